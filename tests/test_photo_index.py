"""PhotoIndex on a real embedded chromadb: per-chat collections, dedupe, model safety, forget, migrate, locking."""

from __future__ import annotations

import math
import os
import random

import pytest

from bot.errors import IndexUnavailable, ReindexNeeded
from bot.stores.photo_index import (
    SYNC_THRESHOLD,
    ModelSpec,
    PhotoIndex,
    PhotoRecord,
    canonical_model_id,
    collection_name,
)

SPEC = ModelSpec("openai/clip-vit-large-patch14", 8)
OTHER = ModelSpec("OFA-Sys/chinese-clip-vit-base-patch16", 8)


def unit(seed: int, dim: int = 8) -> list[float]:
    rng = random.Random(seed)
    v = [rng.gauss(0, 1) for _ in range(dim)]
    norm = math.sqrt(sum(x * x for x in v))
    return [x / norm for x in v]


def record(chat_id: int, key: str, **fields) -> PhotoRecord:
    return PhotoRecord(key=key, chat_id=chat_id, file_id=f"file-{key}", message_id=len(key), sender="Ann", **fields)


@pytest.fixture
def index(tmp_path):
    index = PhotoIndex(tmp_path)
    index.open()
    yield index
    index.close()


def test_each_chat_has_its_own_collection_and_queries_never_cross(index):
    index.add(1, SPEC, [record(1, f"a{i}") for i in range(5)], [unit(i) for i in range(5)])
    index.add(2, SPEC, [record(2, f"b{i}") for i in range(3)], [unit(100 + i) for i in range(3)])
    names = sorted(g.name for g in index.generations())
    assert names == sorted([collection_name(1, SPEC), collection_name(2, SPEC)])
    # Chat 2 asks with the exact vector of one of chat 1's photos: it still only gets its own.
    matches = index.query(2, SPEC, unit(0), k=10)
    assert {m.record.key for m in matches} == {"b0", "b1", "b2"}
    assert all(m.record.chat_id == 2 for m in matches)
    best = index.query(1, SPEC, unit(3), k=2)
    assert best[0].record.key == "a3" and best[0].score == pytest.approx(1.0, abs=1e-5)
    assert best[0].score >= best[1].score
    assert index.query(3, SPEC, unit(0), k=5) == []  # a chat with no photos
    assert index.vector_of(2, SPEC, "a0") is None  # chat 2 can't read chat 1's stored vectors
    assert index.vector_of(1, SPEC, "a0") == pytest.approx(unit(0), abs=1e-6)


def test_a_record_of_another_chat_or_a_wrong_size_vector_is_refused(index):
    with pytest.raises(ValueError, match="of chat 2 added to chat 1"):
        index.add(1, SPEC, [record(2, "x")], [unit(0)])
    with pytest.raises(ValueError, match="4-d vector for a 8-d index"):
        index.add(1, SPEC, [record(1, "x")], [unit(0, dim=4)])


def test_the_same_photo_is_indexed_once(index):
    assert index.add(1, SPEC, [record(1, "same")], [unit(1)]) == 1
    assert index.add(1, SPEC, [record(1, "same", caption="edited")], [unit(1)]) == 0
    assert index.count(1) == 1
    assert index.existing(1, SPEC, ["same", "other"]) == {"same"}
    assert index.query(1, SPEC, unit(1), k=5)[0].record.caption == "edited"


def test_exclude_leaves_out_the_example_photo(index):
    index.add(1, SPEC, [record(1, f"a{i}") for i in range(3)], [unit(i) for i in range(3)])
    matches = index.query(1, SPEC, unit(0), k=3, exclude=["a0"])
    assert sorted(m.record.key for m in matches) == ["a1", "a2"]


def test_another_model_never_mixes_vectors_and_asks_for_a_reindex(index):
    index.add(1, SPEC, [record(1, "old")], [unit(1)])
    # The model changed: new photos go to a collection of their own...
    index.add(1, OTHER, [record(1, "new")], [unit(2)])
    assert {g.spec for g in index.generations(1)} == {SPEC, OTHER}
    # ...and searching with either model is refused while the other's vectors exist.
    with pytest.raises(ReindexNeeded) as needed:
        index.query(1, OTHER, unit(2), k=5)
    assert "python -m bot reindex" in needed.value.user_message.en
    assert index.count(1) == 2
    old = next(g for g in index.generations(1) if g.spec == SPEC)
    index.drop(old)
    assert [m.record.key for m in index.query(1, OTHER, unit(2), k=5)] == ["new"]


def test_forget_deletes_every_collection_of_that_chat_only(index):
    index.add(1, SPEC, [record(1, "a")], [unit(1)])
    index.add(1, OTHER, [record(1, "a"), record(1, "b")], [unit(1), unit(2)])
    index.add(2, SPEC, [record(2, "c")], [unit(3)])
    assert index.forget(1) == 2  # "a" is in both collections: two distinct photos
    assert index.generations(1) == [] and index.count(1) == 0
    assert index.query(1, SPEC, unit(1), k=5) == []
    assert [m.record.key for m in index.query(2, SPEC, unit(3), k=5)] == ["c"]
    assert index.forget(1) == 0


def test_migrate_moves_a_groups_photos_to_its_supergroup_id(index):
    index.add(-5, SPEC, [record(-5, "a"), record(-5, "b")], [unit(1), unit(2)])
    assert index.migrate(-5, -1005) == 2
    assert index.generations(-5) == []
    matches = index.query(-1005, SPEC, unit(1), k=5)
    assert next(m.record.key for m in matches) == "a" and {m.record.chat_id for m in matches} == {-1005}


def test_photos_persist_and_the_store_is_locked_to_one_process(tmp_path):
    first = PhotoIndex(tmp_path)
    first.add(1, SPEC, [record(1, "kept")], [unit(1)])
    second = PhotoIndex(tmp_path)
    with pytest.raises(IndexUnavailable, match="in use by another process"):
        second.open()
    first.close()
    second.open()
    assert [m.record.key for m in second.query(1, SPEC, unit(1), k=1)] == ["kept"]
    second.close()


def test_collections_that_are_not_ours_are_ignored(index):
    index.add(1, SPEC, [record(1, "a")], [unit(1)])
    index._client.create_collection("someone_elses", embedding_function=None)
    index._client.create_collection(f"photos_7_{'0' * 12}", metadata={"chat_id": 7}, embedding_function=None)
    assert [g.chat_id for g in index.generations(fresh=True)] == [1]


def test_canonical_model_id_resolves_local_directories(tmp_path, monkeypatch):
    (tmp_path / "clip").mkdir()
    monkeypatch.chdir(tmp_path)
    assert canonical_model_id("./clip/") == str(tmp_path / "clip")
    assert canonical_model_id("openai/clip-vit-large-patch14") == "openai/clip-vit-large-patch14"
    assert ModelSpec("a", 8).key != ModelSpec("a", 16).key != ModelSpec("b", 8).key


def open_files() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_many_chats_keep_a_bounded_number_of_collections_loaded_and_every_search_answers(tmp_path):
    """chromadb 1.5.9 fails a collection it has evicted twice ("Nothing found on disk"); ours never evicts."""
    index = PhotoIndex(tmp_path, max_open=4)
    chats = range(1, 31)
    before = open_files()
    for chat in chats:
        index.add(chat, SPEC, [record(chat, f"p{chat}")], [unit(chat)])
    most = open_files()
    for order in (chats, reversed(chats), chats):  # each collection is unloaded and loaded again, twice
        for chat in order:
            assert [m.record.key for m in index.query(chat, SPEC, unit(chat), k=3)] == [f"p{chat}"]
            most = max(most, open_files())
    assert len(index._handles) <= 4
    # 30 loaded collections would hold ~120 files; 4 hold ~16, plus the store's own (its runtime, SQLite).
    assert most - before <= 4 * 5 + 40, most - before
    assert index.count(7) == 1 and index.vector_of(7, SPEC, "p7") == pytest.approx(unit(7), abs=1e-6)
    index.close()


def test_collections_save_often_and_old_ones_are_switched_to_it(index):
    index.add(1, SPEC, [record(1, "a")], [unit(1)])
    assert (
        index._client.get_collection(collection_name(1, SPEC)).configuration_json["hnsw"]["sync_threshold"]
        == SYNC_THRESHOLD
    )
    old = collection_name(2, SPEC)  # as this bot made them before: chromadb's default of 1000
    index._client.create_collection(
        old,
        configuration={"hnsw": {"space": "ip"}},
        metadata={"chat_id": 2, "clip_model": SPEC.model, "dim": SPEC.dim, "schema": 1},
        embedding_function=None,
    )
    index.add(2, SPEC, [record(2, "b")], [unit(2)])
    stored = index._client.get_collection(old)
    assert stored.configuration_json["hnsw"]["sync_threshold"] == SYNC_THRESHOLD
    assert stored.metadata["chat_id"] == 2 and [m.record.key for m in index.query(2, SPEC, unit(2), k=1)] == ["b"]
