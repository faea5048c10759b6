"""The one error type the template source raises: importing this module never fails."""


class TemplateSourceError(ValueError):
    """The source is invalid (environment table, wiring); the message says where and how."""
