"""Gate findings as a person reads them in a terminal: one line per problem, not one per region,
and an enumerated list of valid values cut to the closest few and a count.

The findings themselves stay whole (SARIF and JUnit reports, the cache); only the text lines
are condensed. One typo in the environment table (``instance_type="m6i.huge"``) was three lines
of 21 KB each, every EC2 instance type once per region.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from typing import Final

from scripts.build.gate import Finding
from scripts.errors import Exit, did_you_mean

# cfn-lint's enum message: "'m6i.huge' is not one of ['a1.2xlarge', 'a1.4xlarge', ...]"
_ENUM: Final = re.compile(r"(?P<value>'[^']*'|\S+) is not one of \[(?P<items>[^\]]*)\]")
_ITEM: Final = re.compile(r"'([^']*)'|([^,\s][^,]*)")
_RESOLVED: Final = re.compile(r"^(?P<file>.*) \[(?P<env>[^,\]]+), resolved for "
                              r"(?P<regions>[^\]]+)\]$")
# A list this long is cut; a short one reads as it is.
LONGEST_LIST: Final = 8


def shortened(message: str) -> str:
    """An enumeration longer than ``LONGEST_LIST`` as its closest values and a count."""
    def cut(match: re.Match[str]) -> str:
        items = [quoted or bare.strip() for quoted, bare in _ITEM.findall(match["items"])]
        if len(items) <= LONGEST_LIST:
            return match[0]
        value = match["value"].strip("'")
        close = did_you_mean(value, items).strip()
        return (f"{match['value']} is not one of the {len(items)} valid values"
                f"{'; ' + close if close else ''}")

    return _ENUM.sub(cut, message)


_COUNT: Final = re.compile(r"the (\d+) valid values")


def lines(findings: Sequence[Finding]) -> list[str]:
    """One line per finding; those that differ only in the region they were resolved for
    (and in how many values that region allows) merged into one naming every region."""
    merged: dict[tuple[str, str, str, str, str], tuple[list[str], set[int]]] = {}
    for finding in findings:
        found = _RESOLVED.match(finding.template)
        file, env, regions = ((found["file"], found["env"], found["regions"]) if found
                              else (finding.template, "", ""))
        message = shortened(finding.message)
        if found and "," not in regions:  # cfn-lint names the region the list is for
            message = message.removesuffix(f" in '{regions}'")
        counts = {int(n) for n in _COUNT.findall(message)}
        key = (file, env, finding.location, finding.rule, _COUNT.sub("the {} valid values",
                                                                     message))
        seen_regions, seen_counts = merged.setdefault(key, ([], set()))
        seen_regions += [r for r in regions.split(", ") if r and r not in seen_regions]
        seen_counts |= counts
    out = []
    for (file, env, location, rule, message), (regions, counts) in merged.items():
        label = f"{file} [{env}, resolved for {', '.join(sorted(regions))}]" if env else file
        low, high = (min(counts), max(counts)) if counts else (0, 0)
        text = message.replace("{}", str(low) if low == high else f"{low} to {high}") \
            if counts else message
        out.append(f"{label}:{location}: {rule} {text}")
    return out


def report(findings: Sequence[Finding], checked: int, elapsed: float) -> int:
    """The gate's verdict for a terminal: each problem once, then one line of totals."""
    shown = lines(findings)
    for line in shown:
        print(line)
    if findings:
        merged = f" ({len(shown)} once merged across regions)" if len(shown) < len(findings) \
            else ""
        print(f"gate: {len(findings)} finding(s){merged} in {checked} template(s) "
              f"[{elapsed:.2f}s]; fix them, or list a justified ignore in .cfnlintrc.yaml",
              file=sys.stderr)
        return Exit.FINDINGS
    print(f"gate: {checked} template(s) clean, every environment resolved [{elapsed:.2f}s]")
    return Exit.OK
