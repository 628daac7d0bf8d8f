"""`somo curriculum import | list | ask`: bad packs rejected with paths, the good one beside them imported."""

from __future__ import annotations

import json

from sqlalchemy import select

from core.models import CurriculumPack
from gateway.cli import main
from rag.samples import SAMPLES_DIR
from tests.rag.conftest import FIXTURES
from tests.rag.test_validate import expected


def test_import_rejects_bad_packs_and_imports_the_good_one(rt, capsys):
    code = main(["curriculum", "import", str(FIXTURES / "bad"), str(FIXTURES / "good" / "tiny-math.yaml")])
    out, err = capsys.readouterr()
    assert code == 1
    for path in sorted((FIXTURES / "bad").glob("*.yaml")):
        for line in expected(path):
            assert f"{path}: {line}\n" in err
        assert f"{path}: rejected" in err
    assert "tiny-math.yaml: imported tiny-math (1 topics, 12 passages, en, sw)" in out
    with rt.session() as session:
        assert list(session.scalars(select(CurriculumPack.pack))) == ["tiny-math"]


def test_import_samples_list_and_reimport(rt, capsys):
    assert main(["curriculum", "import", str(SAMPLES_DIR)]) == 0
    assert main(["curriculum", "import", str(SAMPLES_DIR / "ke-cbc-g6-math.yaml")]) == 0
    assert main(["curriculum", "list"]) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith(("ke-", "ug-", "zm-"))]
    assert [line.split()[0] for line in lines] == ["ke-cbc-g6-math", "ug-ncdc-p5-science", "zm-ecz-g7-math"]
    assert all(line.endswith("indexed") for line in lines)
    assert "en,sw" in lines[0]


def test_ask_shows_answer_sources_and_scores(rt, samples, capsys):
    assert main(["curriculum", "ask", "--pack", "ke-cbc-g6-math", "--topic", "money", "How do I find profit?"]) == 0
    out = capsys.readouterr().out
    assert "Source: Money: buying and selling" in out
    assert "pack ke-cbc-g6-math | scope topic" in out
    assert "  1. ke-cbc-g6-math / money / " in out and "score " in out and "coverage " in out


def test_ask_json_without_pack_picks_the_best_pack(rt, samples, capsys):
    assert main(["curriculum", "ask", "--json", "--lang", "en", "What does an anemometer measure?"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["pack"] == "ug-ncdc-p5-science" and data["grounded"]
    assert {"pack", "topic", "section", "score", "chunk_id"} <= set(data["sources"][0])
    assert data["sources"][0]["topic"] == "weather"


def test_ask_in_kiswahili_on_sms(rt, samples, capsys):
    assert main(["curriculum", "ask", "--pack", "ke-cbc-g6-math", "--lang", "sw", "--channel", "sms",
                 "Faida ni nini?"]) == 0
    out = capsys.readouterr().out
    assert "[Pesa: kununua na kuuza, " in out


def test_bad_input_exits_non_zero_with_one_line(rt, samples, capsys, tmp_path):
    cases = [
        (["curriculum", "import", str(tmp_path / "missing.yaml")], "no such file or folder"),
        (["curriculum", "import", str(tmp_path)], "no .yaml or .yml files"),
        (["curriculum", "ask", "--pack", "nope", "hi"], "--pack 'nope': no such pack"),
        (["curriculum", "ask", "--pack", "ke-cbc-g6-math", "--topic", "nope", "hi"], "--topic 'nope'"),
        (["curriculum", "ask", "--pack", "ke-cbc-g6-math", "  "], "the question is empty"),
        (["curriculum", "ask", "--pack", "ke-cbc-g6-math", "--budget", "5", "hi"], "--budget must be at least 20"),
    ]
    for argv, message in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err


def test_non_utf8_file_is_reported(rt, capsys, tmp_path):
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes("pack: caf\xe9\n".encode("latin-1"))
    assert main(["curriculum", "import", str(bad)]) == 1
    assert "not UTF-8 text (byte 9)" in capsys.readouterr().err


def test_ask_with_no_packs(rt, capsys):
    assert main(["curriculum", "ask", "what is a fraction"]) == 2
    assert "no curriculum packs imported" in capsys.readouterr().err
