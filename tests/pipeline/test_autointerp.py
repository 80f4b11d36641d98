"""Autointerp: the AUROC rule, the evidence read from the micro study, the baselines, and
explain-and-score end to end with the local SmolLM2 and with an OpenAI-compatible endpoint
served here.

Over 400 lines by choice: every test reads the one micro study and the evidence built from it,
through the same fixtures."""

from __future__ import annotations

import itertools
import json
import math
import re
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from dashboard.analysis.activity import ClusterActivation
from dashboard.analysis.study_analyses import cluster_analyses
from dashboard.cli import main
from dashboard.pipeline.autointerp.clients import (
    LOCAL_MODEL_NAME,
    ExplainerError,
    LocalExplainer,
    OpenAICompatibleExplainer,
    answer_choice,
    answer_value,
    explainer_from_env,
)
from dashboard.pipeline.autointerp.evidence import (
    INTRUDER_CHOICES,
    EvidenceConfig,
    cluster_evidence,
    intruder_trials,
    quiet_spans,
    span_text,
    wrong_marks,
)
from dashboard.pipeline.autointerp.prompts import (
    NO_EXPLANATION,
    detection_prompt,
    explanation_prompt,
    one_line,
)
from dashboard.pipeline.autointerp.runner import clusters_to_explain, explain_study
from dashboard.pipeline.autointerp.scores import auroc, average_ranks, decoys, explanation_scores
from dashboard.stores.database import Database
from dashboard.stores.explanations import MEASURES, ExplanationStore
from dashboard.study import Study

API_MODEL = "fake-chat-model"
API_KEY = "sk-test-secret-123"


def pairwise_auroc(positive: list[float], negative: list[float]) -> float:
    """The definition: the share of (positive, negative) pairs ordered right, ties half."""
    pairs = list(itertools.product(positive, negative))
    return sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in pairs) / len(pairs)


def test_auroc_matches_hand_computed_values() -> None:
    assert auroc([0.9, 0.8], [0.1, 0.2]) == 1.0
    assert auroc([0.1], [0.9]) == 0.0
    assert auroc([0.5, 0.5], [0.5]) == 0.5
    # pairs: (.8,.4) 1, (.8,.1) 1, (.4,.4) 1/2 twice, (.4,.1) 1 twice -> 5 of 6
    assert auroc([0.8, 0.4, 0.4], [0.4, 0.1]) == pytest.approx(5 / 6)
    assert auroc([1, 0], [1, 0]) == 0.5
    np.testing.assert_array_equal(average_ranks(np.array([3.0, 1.0, 3.0, 2.0])), [3.5, 1, 3.5, 2])
    rng = np.random.default_rng(0)
    for _ in range(20):  # many ties: values drawn from four levels
        positive = rng.integers(0, 4, size=rng.integers(1, 8)).tolist()
        negative = rng.integers(0, 4, size=rng.integers(1, 8)).tolist()
        assert auroc(positive, negative) == pytest.approx(pairwise_auroc(positive, negative))
    with pytest.raises(ValueError, match="at least one"):
        auroc([], [0.5])


def test_span_text_marks_runs_of_firing_tokens() -> None:
    tokens = ["A", " cat", " sat", "\n", "<|endoftext|>", "."]
    ids = np.arange(len(tokens))
    firing = np.array([False, True, True, False, True, False])
    assert span_text(tokens, ids, firing) == "A <<cat sat>>\\n<<[endoftext]>>."
    assert span_text(tokens, ids, None) == "A cat sat\\n[endoftext]."


def test_answers_become_one_line_and_judgments() -> None:
    assert (
        one_line('\n  "the" at the start of a sentence \nmore')
        == '"the" at the start of a sentence'
    )
    assert one_line(" \n\n") == NO_EXPLANATION
    assert [answer_value(a) for a in ("Yes.", " no", "**Yes**", "Maybe")] == [1.0, 0.0, 1.0, 0.5]
    assert answer_choice("3", 5).tolist() == [0, 0, 1, 0, 0]
    assert answer_choice("Excerpt 2.", 5).tolist() == [0, 1, 0, 0, 0]
    assert answer_choice("none of them", 4).tolist() == [0.25] * 4
    assert answer_choice("7", 5).tolist() == [0.2] * 5


def test_wrong_marks_mark_as_many_other_tokens() -> None:
    rng = np.random.default_rng(0)
    firing = np.array([False, True, True, False, False, False])
    marks = wrong_marks(firing, rng)
    assert marks.sum() == 2 and not (marks & firing).any()
    assert wrong_marks(np.zeros(4, dtype=bool), rng).sum() == 1  # nothing fires: one mark
    mostly = np.array([True, True, True, False])
    assert wrong_marks(mostly, rng).tolist() == [False, False, False, True]  # all that do not
    assert wrong_marks(np.ones(3, dtype=bool), rng) is None  # everything fires: none to make


def test_intruder_trials_hide_one_intruder_among_examples() -> None:
    examples = [f"example {i}" for i in range(6)]
    trials = intruder_trials(examples, ["quiet a", "quiet b"], 8, np.random.default_rng(0))
    assert len(trials) == 8
    for texts, at in trials:
        assert len(texts) == INTRUDER_CHOICES and texts[at].startswith("quiet")
        assert sum(t.startswith("quiet") for t in texts) == 1
        assert len(set(texts)) == INTRUDER_CHOICES
    assert len({at for _, at in trials}) > 1  # the intruder moves
    assert intruder_trials(examples[:3], ["quiet"], 4, np.random.default_rng(0)) == ()
    assert intruder_trials(examples, [], 4, np.random.default_rng(0)) == ()


def test_decoys_are_another_cluster_s_explanation() -> None:
    explained = {1: "commas", 2: "numbers", 3: "names"}
    chosen = decoys(explained, [], seed=0)
    assert all(chosen[c] in explained.values() and chosen[c] != explained[c] for c in explained)
    assert decoys({1: "commas"}, ["stored before", "commas"], 0) == {1: "stored before"}
    assert decoys({1: "commas"}, ["commas"], 0) == {1: None}


class TextOnlyJudge:
    """Answers from the texts alone, never reading the explanation: yes when the text holds a
    comma; the first excerpt for the odd one out."""

    name = "text-only"

    def judge(self, prompts):
        return np.array([1.0 if "," in p.partition("Text: ")[2] else 0.0 for p in prompts])

    def pick(self, prompts, choices):
        picked = np.zeros((len(prompts), choices))
        picked[:, 0] = 1.0
        return picked


def test_a_judge_that_ignores_the_explanation_scores_its_baseline(
    study: Study, sparse_cluster: int
) -> None:
    """The baseline's point: a score earned from the texts alone equals the random other
    explanation's, so only a judge that reads the explanation rises above its baseline."""
    evidence = cluster_evidence(study, study.default_iteration, sparse_cluster)
    scores = explanation_scores(TextOnlyJudge(), evidence, "commas", "something else")
    by_measure = {score.measure: score for score in scores}
    assert set(by_measure) <= set(MEASURES) and {"detection", "fuzzing"} <= set(by_measure)
    for measure in ("detection", "fuzzing"):
        assert by_measure[measure].value == by_measure[measure].baseline
    if "intruder" in by_measure:
        assert by_measure["intruder"].baseline == pytest.approx(1 / INTRUDER_CHOICES)


class ReadingJudge:
    """Reads the explanation: it knows the cluster's own explanation, and with it says yes to
    exactly the texts (and marks) where the cluster fires; to any other explanation, no."""

    name = "reading"

    def __init__(self, own: str, evidence) -> None:
        self.own = own
        self.firing = set(evidence.activating) | set(evidence.rightly_marked)

    def judge(self, prompts):
        return np.array(
            [
                1.0 if self.own in question and text in self.firing else 0.0
                for question, _, text in (p.partition("\n\nText: ") for p in prompts)
            ]
        )

    def pick(self, prompts, choices):
        return TextOnlyJudge().pick(prompts, choices)


def test_a_judge_that_reads_the_explanation_rises_above_its_baseline(
    study: Study, sparse_cluster: int
) -> None:
    """Each explanation is judged on the cluster's own texts: the own one, which the judge
    reads as naming where the cluster fires, scores 1; the random other one, 0.5."""
    evidence = cluster_evidence(study, study.default_iteration, sparse_cluster)
    scores = explanation_scores(ReadingJudge("commas", evidence), evidence, "commas", "numbers")
    by_measure = {score.measure: score for score in scores}
    for measure in ("detection", "fuzzing"):
        assert (by_measure[measure].value, by_measure[measure].baseline) == (1.0, 0.5)


def test_quiet_spans_prefer_where_the_cluster_does_not_fire() -> None:
    length, n_windows = 32, 8
    silent_window = 3
    positions = np.array(
        [p for p in range(n_windows * length) if p // length != silent_window], dtype=np.int64
    )
    activation = ClusterActivation(positions, np.ones(len(positions), dtype=np.float32))
    spans, fires = quiet_spans(activation, n_windows, length, 9, 3, np.random.default_rng(0))
    assert len(spans) == 3 and {window for window, _ in spans} == {silent_window}
    assert not fires
    spans, fires = quiet_spans(activation, n_windows, length, 9, 30, np.random.default_rng(0))
    assert fires  # only one window is silent: the rest of the 30 spans fire


@pytest.fixture(scope="module")
def study(micro_study: Path) -> Study:
    return Study(micro_study)


@pytest.fixture(scope="module")
def sparse_cluster(study: Study) -> int:
    """The cluster of the micro study that fires least (but fires)."""

    table = cluster_analyses(study, study.default_iteration).clusters
    table = table[table["firing_frequency"] > 0]
    return int(table.sort_values("firing_frequency")["cluster"].iloc[0])


def test_evidence_marks_firing_tokens_and_reads_the_lenses(study: Study, sparse_cluster: int):
    config = EvidenceConfig()
    evidence = cluster_evidence(study, study.default_iteration, sparse_cluster, config)
    assert evidence.cluster == sparse_cluster
    assert 0 < len(evidence.top_examples) <= config.top_examples
    assert 0 < len(evidence.quantile_examples) <= config.quantile_examples
    for text in evidence.top_examples + evidence.quantile_examples:
        assert "<<" in text and ">>" in text and "\n" not in text
    for text in evidence.activating + evidence.non_activating:
        assert "<<" not in text
    assert len(evidence.activating) == len(evidence.non_activating) == config.detection_texts
    assert evidence.top_tokens and evidence.lens_tokens  # the micro study has lenses
    prompt = explanation_prompt(evidence)
    assert evidence.top_examples[0] in prompt and "makes more likely" in prompt
    assert cluster_evidence(study, study.default_iteration, sparse_cluster, config) == evidence
    with pytest.raises(KeyError):
        cluster_evidence(study, study.default_iteration, 10**6)


def test_evidence_without_lens_files(micro_study: Path, tmp_path: Path, sparse_cluster: int):
    copy = Path(shutil.copytree(micro_study, tmp_path / "micro-no-lenses"))
    shutil.rmtree(copy / "lenses")
    manifest = json.loads((copy / "study.json").read_text())
    manifest["files"] = {
        name: entry for name, entry in manifest["files"].items() if not name.startswith("lenses/")
    }
    (copy / "study.json").write_text(json.dumps(manifest))
    bare = Study(copy)
    for iteration in (bare.default_iteration, bare.default_iteration - 5):
        cluster = clusters_to_explain(bare, iteration, None, None)[-1]
        evidence = cluster_evidence(bare, iteration, cluster)
        assert evidence.lens_tokens == () and evidence.top_examples
        assert "makes more likely" not in explanation_prompt(evidence)
    evidence = cluster_evidence(bare, bare.default_iteration, sparse_cluster)
    assert evidence.top_examples and evidence.top_tokens


def test_clusters_to_explain_checks_what_it_is_given(study: Study) -> None:
    firing = clusters_to_explain(study, study.default_iteration, None, None)
    assert firing == sorted(firing) and len(firing) > 3
    assert clusters_to_explain(study, study.default_iteration, None, 2) == firing[:2]
    assert clusters_to_explain(study, study.default_iteration, firing[:1], None) == firing[:1]
    with pytest.raises(ValueError, match="no cluster"):
        clusters_to_explain(study, study.default_iteration, [10**6], None)
    sampled = clusters_to_explain(study, study.default_iteration, None, None, sample=3)
    assert len(sampled) == 3 and sampled == sorted(sampled) and set(sampled) <= set(firing)
    assert clusters_to_explain(study, study.default_iteration, None, None, sample=3) == sampled
    assert clusters_to_explain(study, study.default_iteration, None, None, 10**6) == firing
    with pytest.raises(ValueError, match="sample -1"):
        clusters_to_explain(study, study.default_iteration, None, None, sample=-1)


@pytest.fixture(scope="module")
def local_explainer(micro_data_dir: Path) -> LocalExplainer:
    """SmolLM2, dequantized once into the session's data directory."""
    return LocalExplainer(micro_data_dir)


def test_local_explainer_explains_scores_and_resumes(
    study: Study, local_explainer: LocalExplainer, tmp_path: Path
) -> None:
    store = ExplanationStore(Database(f"sqlite:///{tmp_path / 'store.sqlite3'}"))
    iteration = study.default_iteration
    first = explain_study(study, iteration, store, local_explainer, limit=3, progress=False)
    expected = clusters_to_explain(study, iteration, None, 3)
    assert first.explained == expected and first.skipped == []
    stored = store.of_study(study.name, iteration)
    assert sorted(int(e.target) for e in stored) == expected
    for explanation in stored:
        assert explanation.source == "model" and explanation.author == LOCAL_MODEL_NAME
        assert explanation.text.strip() and "\n" not in explanation.text
        assert explanation.score is not None and math.isfinite(explanation.score)
        assert 0.0 <= explanation.score <= 1.0
        measures = {score.measure: score for score in explanation.scores}
        assert measures["detection"].value == explanation.score
        # fuzzing needs tokens where the cluster does not fire: the micro study's first
        # clusters fire on nearly every token, and may have none in their spans
        assert "detection" in measures and set(measures) <= set(MEASURES)
    assert "detection" in first.means()
    print(f"\nlocal explain+score: {first.seconds / 3:.2f} s per cluster")
    for explanation in stored:
        print(f"  cluster {explanation.target}: {explanation.text!r} {explanation.scores}")

    again = explain_study(study, iteration, store, local_explainer, limit=3, progress=False)
    assert again.explained == [] and again.skipped == expected
    assert len(store.of_study(study.name, iteration)) == 3


def test_local_batches_match_single_prompts(study: Study, local_explainer: LocalExplainer):
    """Left padding changes nothing: a batch explains each cluster as it would alone."""
    clusters = clusters_to_explain(study, study.default_iteration, None, 3)
    evidence = [cluster_evidence(study, study.default_iteration, c) for c in clusters]
    assert local_explainer.explain(evidence) == [local_explainer.explain([e])[0] for e in evidence]
    prompts = [detection_prompt("commas", t) for t in ("a, b, c", "no punctuation here at all")]
    judged = local_explainer.judge(prompts)
    alone = local_explainer.judge(prompts[1:])
    assert judged[1] == pytest.approx(alone[0], abs=1e-4)
    picked = local_explainer.pick(["Which number is largest? 1. two 2. ten 3. one"], 3)
    assert picked.shape == (1, 3) and picked.sum() == pytest.approx(1.0)


def first_mark(text: str) -> str:
    """The first run marked <<like this>> in `text` ('' without one)."""
    return text.partition("<<")[2].partition(">>")[0]


class FakeChat(BaseHTTPRequestHandler):
    """Answers chat completions as a judge that reads the explanation would: an explanation
    names the first marked run of the first example; detection says Yes for texts holding what
    the explanation names, fuzzing for marks over it; the odd one out is the excerpt sharing
    fewest words with the rest."""

    requests: ClassVar[list[dict]] = []
    fail: ClassVar[bool] = False

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        FakeChat.requests.append(
            {"path": self.path, "auth": self.headers.get("Authorization"), "body": body}
        )
        if FakeChat.fail:
            self.send_error(500, "broken")
            return
        prompt = body["messages"][-1]["content"]
        question, _, text = prompt.partition("\n\nText: ")
        if prompt.startswith("Does the following text contain"):
            named = question.removeprefix("Does the following text contain the text ")
            named = named.partition("?")[0]
            answer = "Yes." if named and named in text else "No"
        elif prompt.startswith("A feature of a language model is active on"):
            named = question.partition("active on the text ")[2].partition(". In the text")[0]
            marked = re.findall(r"<<(.*?)>>", text)
            answer = "Yes" if named and any(named in run for run in marked) else "No"
        elif prompt.startswith("All but one"):
            excerpts = [line.partition(". ")[2].split() for line in prompt.splitlines()[1:]]
            shared = [
                sum(len(set(mine) & set(other)) for other in excerpts if other is not mine)
                for mine in excerpts
            ]
            answer = str(int(np.argmin(shared)) + 1)
        else:
            answer = f"\n  the text {first_mark(prompt.splitlines()[1])}\nsecond line"
        reply = json.dumps({"choices": [{"message": {"role": "assistant", "content": answer}}]})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(reply.encode())

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def chat_api() -> Iterator[str]:
    FakeChat.requests, FakeChat.fail = [], False
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeChat)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_openai_compatible_endpoint_end_to_end(study: Study, chat_api: str, tmp_path: Path):
    explainer = explainer_from_env(
        tmp_path,
        env={
            "ATLAS_EXPLAIN_API": chat_api,
            "ATLAS_EXPLAIN_MODEL": API_MODEL,
            "ATLAS_EXPLAIN_KEY": API_KEY,
        },
    )
    assert isinstance(explainer, OpenAICompatibleExplainer) and API_KEY not in repr(explainer)
    store = ExplanationStore(Database(f"sqlite:///{tmp_path / 'store.sqlite3'}"))
    report = explain_study(
        study, study.default_iteration, store, explainer, limit=2, progress=False
    )
    assert len(report.explained) == 2
    stored = store.of_study(study.name, study.default_iteration)
    for explanation in stored:
        assert explanation.author == API_MODEL and explanation.source == "model"
        assert explanation.text.startswith("the text ") and "\n" not in explanation.text
        assert explanation.score is not None and 0.0 <= explanation.score <= 1.0
        measures = {score.measure: score for score in explanation.scores}
        assert {"detection", "intruder"} <= set(measures) <= set(MEASURES)
        assert measures["intruder"].baseline == pytest.approx(1 / INTRUDER_CHOICES)
        # each beside the same test of the other cluster's explanation
        assert measures["detection"].baseline is not None
    scores = store.newest_scores(study.name, study.default_iteration)
    assert sorted(scores["cluster"]) == sorted(report.explained)
    assert scores[["detection", "detection_baseline", "intruder"]].notna().all().all()
    assert {r["path"] for r in FakeChat.requests} == {"/v1/chat/completions"}
    assert {r["auth"] for r in FakeChat.requests} == {f"Bearer {API_KEY}"}
    assert all(r["body"]["model"] == API_MODEL for r in FakeChat.requests)
    explained = [
        r for r in FakeChat.requests if r["body"]["messages"][0]["content"].startswith("Below")
    ]
    assert len(explained) == 2
    judged = len(FakeChat.requests) - len(explained)
    # detection and fuzzing: both sides' texts, for the explanation and for its baseline;
    # intruder: one question per trial
    evidence = [cluster_evidence(study, study.default_iteration, c) for c in report.explained]
    assert judged == sum(
        2 * (len(e.activating) + len(e.non_activating))
        + 2 * (len(e.rightly_marked) + len(e.wrongly_marked))
        + len(e.intruder_trials)
        for e in evidence
    )

    FakeChat.fail = True
    with pytest.raises(ExplainerError, match="HTTP 500") as failure:
        explain_study(study, study.default_iteration, store, explainer, progress=False)
    assert API_KEY not in str(failure.value)


def test_cli_explain_with_the_endpoint(
    micro_study: Path, chat_api: str, tmp_path: Path, monkeypatch, capsys
) -> None:
    for name, value in {
        "ATLAS_DATA_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'store.sqlite3'}",
        "ATLAS_DEVICE": "cpu",
        "ATLAS_EXPLAIN_API": chat_api,
        "ATLAS_EXPLAIN_MODEL": API_MODEL,
        "ATLAS_EXPLAIN_KEY": API_KEY,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("REDIS_URL", raising=False)
    study = Study(micro_study)
    clusters = clusters_to_explain(study, study.default_iteration, None, 3)[1:]
    ids = ",".join(map(str, clusters))
    assert main(["explain", str(micro_study), "--clusters", ids, "--batch-size", "1"]) == 0
    assert main(["explain", str(micro_study), "--clusters", ids]) == 0
    out = capsys.readouterr()
    assert "explained 2 cluster(s), skipped 0" in out.out
    assert "explained 0 cluster(s), skipped 2" in out.out
    assert API_KEY not in out.out + out.err
    assert main(["explain", str(micro_study), "--iteration", "999999"]) == 2
    with pytest.raises(SystemExit):
        main(["explain", str(micro_study), "--clusters", "1,x"])
