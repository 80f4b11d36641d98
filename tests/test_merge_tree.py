"""Stable cluster ids: the merge history as a tree, and a cluster's lineage in it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dashboard.analysis.lineage import (
    formation,
    group_profile,
    later_merges,
    leaf_label,
    subtree,
    token_overlap,
)
from dashboard.study.clusters import assignments_at
from dashboard.study.merge_tree import merge_tree
from dashboard.study.reader import ColumnStore

# subcomponents 0..5; subcomponent 2 is dead; initial groups 0..4 (clusters 0-4)
INITIAL = np.array([0, 1, -1, 2, 3, 4], dtype=np.int32)
# merge 0 forms 5 = {3, 4}; 1 forms 6 = {0, 1}; 2 forms 7 = 6 + 5; 3 forms 8 = 7 + 2
HISTORY = pd.DataFrame(
    {"group_a": [3, 0, 0, 0], "group_b": [4, 1, 3, 2], "cost": [0.1, 0.2, 0.3, 0.4]}
)
TREE = merge_tree(INITIAL, HISTORY)


def test_each_merge_forms_a_new_id_from_the_two_it_joins() -> None:
    assert TREE.n_groups == 5 and TREE.n_clusters == 9
    assert TREE.children.tolist() == [[3, 4], [0, 1], [6, 5], [7, 2]]
    assert TREE.parent.tolist() == [6, 6, 8, 5, 5, 7, 7, 8, -1]
    assert TREE.size.tolist() == [1, 1, 1, 1, 1, 2, 2, 4, 5]


def test_an_id_names_the_same_members_wherever_it_exists() -> None:
    for iteration in range(len(HISTORY) + 1):
        assignments = assignments_at(INITIAL, HISTORY, iteration)
        for cluster in set(assignments[assignments >= 0].tolist()):
            assert TREE.exists_at(cluster, iteration)
            members = np.flatnonzero(assignments == cluster)
            assert (
                members.tolist()
                == np.flatnonzero(np.isin(INITIAL, TREE.groups_under(cluster))).tolist()
            )
        alive = [c for c in range(TREE.n_clusters) if TREE.exists_at(c, iteration)]
        assert sorted(alive) == sorted(set(assignments[assignments >= 0].tolist()))


def test_when_a_cluster_is_formed_and_merged_away_and_where_its_members_go() -> None:
    assert (TREE.formed(5), TREE.ended(5)) == (1, 3)
    assert (TREE.formed(2), TREE.ended(2)) == (0, 4)
    assert (TREE.formed(8), TREE.ended(8)) == (4, None)
    assert TREE.holder_at(3, 2) == 5 and TREE.holder_at(3, 4) == 8
    assert TREE.holder_at(5, 0) is None
    assert TREE.parts_at(8, 1) == [0, 1, 2, 5]
    assert TREE.parts_at(7, 0) == [0, 1, 3, 4]
    assert TREE.parts_at(5, 3) == [7]
    assert TREE.later_merges(3) == [0, 2, 3]
    assert TREE.partner(2, 6) == 5


def test_the_subtree_puts_leaves_in_order_and_merges_at_their_iteration() -> None:
    nodes = subtree(TREE, 8)
    assert [node.cluster for node in nodes] == [8, 7, 6, 0, 1, 5, 3, 4, 2]
    assert [node.formed for node in nodes] == [4, 3, 2, 0, 0, 1, 0, 0, 0]
    assert nodes[0].parent == -1 and nodes[0].cost == pytest.approx(0.4)
    leaves = [node for node in nodes if not node.folded and node.cost is None]
    assert [round(node.x, 2) for node in leaves] == [0.1, 0.3, 0.5, 0.7, 0.9]
    assert nodes[1].x == pytest.approx(np.mean([nodes[2].x, nodes[5].x]))
    folded = subtree(TREE, 8, most=2)  # merges 3 and 2 drawn; 6 and 5 folded
    assert [(node.cluster, node.folded) for node in folded] == [
        (8, False),
        (7, False),
        (6, True),
        (5, True),
        (2, False),
    ]
    assert [node.cluster for node in subtree(TREE, 3)] == [3]


def test_what_a_cluster_merges_into_up_to_the_end() -> None:
    later = later_merges(TREE, 5)
    assert [(m.iteration, m.partner, m.becomes, m.size) for m in later] == [
        (3, 6, 7, 4),
        (4, 2, 8, 5),
    ]
    assert later_merges(TREE, 8) == []
    assert leaf_label(TREE, 3, INITIAL, np.array(list("abcdef"))) == "e"
    assert leaf_label(TREE, 6, INITIAL, np.array(list("abcdef"))) == "2 members"


def test_the_two_parts_of_a_merge_are_profiled_from_the_store() -> None:
    # CSC store of 6 subcomponents over 8 tokens, and the token ids at those positions;
    # cluster 6 is subcomponents 0 and 1, cluster 5 is 4 and 5
    columns = [[0, 1], [1, 2], [], [5, 6], [5, 7], [0]]
    indptr = np.concatenate([[0], np.cumsum([len(c) for c in columns])])
    token_index = np.concatenate([np.array(c, dtype=np.int32) for c in columns])
    ci = np.full(len(token_index), 0.5, dtype=np.float16)
    tokens = np.array([10, 11, 11, 12, 12, 13, 13, 14])
    store = ColumnStore(indptr, token_index, ci)
    six, five = formation(TREE, 7, INITIAL, store, tokens)
    assert (six.cluster, six.size, six.firing) == (6, 2, 3)
    assert six.cohesion == pytest.approx(4 / (3 * 2))
    assert six.top_tokens == [11, 10]
    assert (five.cluster, five.size, five.firing, five.top_tokens) == (5, 2, 3, [10, 13, 14])
    assert token_overlap(six, five) == pytest.approx(1 / 4)  # 10 of 10, 11, 13, 14
    assert token_overlap(six, six) == 1.0
    assert formation(TREE, 3, INITIAL, store, tokens) is None
    assert group_profile(0, np.array([2]), store, tokens).firing == 0


def test_the_random_study_s_named_cluster_is_what_the_browser_tests_expect(
    random_study_template,
) -> None:
    from dashboard.study import Study
    from dashboard.study.summary import study_merge_tree
    from tests.study_factory import A_MERGED_CLUSTER

    study = Study(random_study_template)
    tree = study_merge_tree(study)
    assert tree.merge_of(A_MERGED_CLUSTER) == 1
    assert tree.exists_at(A_MERGED_CLUSTER, study.default_iteration)
    assert tree.size[A_MERGED_CLUSTER] == 2
