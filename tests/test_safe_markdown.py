"""Link targets in Markdown from outside: only http(s), mailto and this site's paths survive."""

from __future__ import annotations

from dashboard.components.discussion import safe_markdown


def test_unsafe_link_targets_are_replaced_and_safe_ones_kept() -> None:
    text = (
        "[a](javascript:alert(1)) [b](https://example.org/x) [c]( JaVaScRiPt:alert(2)) "
        "[d](/cluster/3?iteration=2) [e](data:text/html,hi) <vbscript:msgbox> <https://ok.org>\n"
        "[r]: javascript:alert(3)\n[s]: https://fine.org\n"
    )
    safe = safe_markdown(text)
    assert "javascript" not in safe.lower() and "data:" not in safe and "vbscript" not in safe
    for kept in ("https://example.org/x", "/cluster/3?iteration=2", "<https://ok.org>"):
        assert kept in safe
    assert "[r]: #" in safe and "[s]: https://fine.org" in safe
