"""The suggested policy cleans the data it was made from; no raw value leaks
into any report format."""

from __future__ import annotations

import gzip
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from redline.audit.run import analyse
from redline.audit.suggest import suggest_policy
from redline.cli import main

from .exports import FORMATS, Truth, write_exports


@pytest.fixture(scope="module")
def mixpanel(tmp_path_factory: pytest.TempPathFactory) -> Truth:
    root = tmp_path_factory.mktemp("exports")
    return write_exports(root, count=600, people=80, formats=["mixpanel"])["mixpanel"]


def _audit(
    runner: CliRunner, paths: list[str], out: Path
) -> tuple[str, dict, str, str]:
    json_path, html_path, policy_path = out / "r.json", out / "r.html", out / "p.yaml"
    result = runner.invoke(
        main,
        [
            "audit",
            *paths,
            "--workers",
            "2",
            "--json",
            str(json_path),
            "--html",
            str(html_path),
            "--suggest-policy",
            str(policy_path),
        ],
    )
    assert result.exit_code == 0, result.output
    return (
        result.output,
        orjson.loads(json_path.read_bytes()),
        html_path.read_text(),
        policy_path.read_text(),
    )


def test_suggested_policy_leaves_no_findings_after_sanitize(
    mixpanel: Truth, tmp_path: Path
) -> None:
    runner = CliRunner()
    first = tmp_path / "first"
    first.mkdir()
    _, report, _, policy = _audit(runner, [str(mixpanel.root)], first)
    assert report["blast_radius"]["by_kind"], "the sample must carry findings"
    assert "email: hash" in policy and "comment: drop" in policy

    check = runner.invoke(main, ["policy", "check", str(first / "p.yaml")])
    assert check.exit_code == 0, check.output

    clean = tmp_path / "clean.jsonl"
    with clean.open("wb") as out:
        for path in mixpanel.files:
            plain = tmp_path / (path.name + ".plain")
            opener = gzip.open if path.suffix == ".gz" else open
            with opener(path, "rb") as source:
                plain.write_bytes(source.read())
            result = runner.invoke(
                main, ["sanitize", "--policy", str(first / "p.yaml"), str(plain)]
            )
            # malformed lines are skipped (exit 1), the rest is written
            assert result.stdout_bytes, result.output
            out.write(result.stdout_bytes)

    second = tmp_path / "second"
    second.mkdir()
    _, again, _, _ = _audit(runner, [str(clean)], second)
    assert again["events"]["total"] > 0
    assert again["blast_radius"]["by_kind"] == []
    assert again["findings"] == [] and again["risk_ranking"] == []


def test_no_raw_value_appears_in_any_report(mixpanel: Truth, tmp_path: Path) -> None:
    text, report, html, policy = _audit(CliRunner(), [str(mixpanel.root)], tmp_path)
    canaries = set(mixpanel.planted) | {
        f"malformed.canary{i}@leak.example.org" for i in range(10)
    }
    assert len(mixpanel.planted) > 100
    outputs = {
        "terminal": text,
        "json": orjson.dumps(report).decode(),
        "html": html,
        "policy": policy,
    }
    for name, output in outputs.items():
        leaked = [c for c in canaries if c in output]
        assert not leaked, (name, len(leaked))
    # the masked shapes are there instead
    assert any("***@" in shape for shape in _examples(report)) or report["findings"]


def _examples(report: dict) -> list[str]:
    return [
        s for e in report["inventory"] for p in e["properties"] for s in p["examples"]
    ]


@pytest.mark.parametrize("fmt", FORMATS)
def test_suggested_policy_of_every_format_passes_policy_check(
    tmp_path: Path, fmt: str
) -> None:
    truth = write_exports(tmp_path / "in", count=200, people=40, formats=[fmt])[fmt]
    analysis = analyse([str(truth.root)], workers=1)
    policy = tmp_path / "policy.yaml"
    policy.write_text(suggest_policy(analysis.partial))
    result = CliRunner().invoke(main, ["policy", "check", str(policy)])
    assert result.exit_code == 0, result.output
    assert not any(value in policy.read_text() for value in truth.planted)


def test_web_addresses_are_scrubbed_not_dropped(tmp_path: Path) -> None:
    """A URL property that carried an email and a reset token in its query is
    suggested the url action: the sanitised events keep the page address and
    lose the query, and a second audit finds nothing."""
    events = []
    for n in range(40):
        url = f"https://app.example.com/account/{n}/settings"
        if n % 3 == 0:
            url += f"?email=canary.person{n}%40example.org&reset_token=Zx81Qm{n}Lp0Tr7"
        events.append(
            {
                "event": "Page Viewed",
                "properties": {
                    "distinct_id": f"u{n % 7}",
                    "time": 1_733_000_000 + n,
                    "$current_url": url,
                    "plan": "pro",
                },
            }
        )
    export = tmp_path / "export.jsonl"
    export.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    runner = CliRunner()
    first = tmp_path / "first"
    first.mkdir()
    _, report, _, policy = _audit(runner, [str(export)], first)
    assert report["blast_radius"]["by_kind"], "the query must carry findings"
    assert "$current_url: url" in policy and "plan: keep" in policy

    result = runner.invoke(
        main, ["sanitize", "--policy", str(first / "p.yaml"), str(export)]
    )
    assert result.exit_code == 0, result.output
    lines = [orjson.loads(line) for line in result.stdout_bytes.splitlines()]
    urls = [line["properties"]["$current_url"] for line in lines]
    assert len(urls) == len(events)
    assert all(u.startswith("https://app.example.com/account/") for u in urls)
    assert not any("?" in u or "canary" in u or "Zx81Qm" in u for u in urls)

    clean = tmp_path / "clean.jsonl"
    clean.write_bytes(result.stdout_bytes)
    second = tmp_path / "second"
    second.mkdir()
    _, again, _, _ = _audit(runner, [str(clean)], second)
    assert again["blast_radius"]["by_kind"] == []


def test_a_property_that_is_not_always_a_web_address_is_dropped(
    tmp_path: Path,
) -> None:
    """Three URLs first, then free text with a card and an email: the
    examples kept are all URLs, but the property is no web address, and url
    would let the text through."""
    events = []
    for n in range(30):
        link = (
            # three shapes of URL: all the examples an audit keeps
            "https://app.example.com/" + "docs/" * (n + 1)
            if n < 3
            else f"Patient Jane Doe{n} was diagnosed today, write to "
            f"jane{n}@example.org, card 4111 1111 1111 1111 on file for billing"
        )
        events.append(
            {"event": "Note", "properties": {"distinct_id": f"u{n}", "link": link}}
        )
    export = tmp_path / "export.jsonl"
    export.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    _, _, _, policy = _audit(CliRunner(), [str(export)], tmp_path)
    assert "link: drop" in policy, policy
