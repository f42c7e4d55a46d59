"""A literal object-store path as --input resolves to the object and its size."""

from __future__ import annotations

from tests.fakestore import FakeObjectStore
from transforms.inputs import InputFile, resolve_pattern


def test_literal_remote_path_resolves_with_its_size(tmp_path, monkeypatch):
    monkeypatch.setattr(FakeObjectStore, "ROOT", str(tmp_path))
    (tmp_path / "day").mkdir()
    (tmp_path / "day" / "events.jsonl").write_bytes(b"{}\n" * 7)
    path = "fakestore://day/events.jsonl"
    assert resolve_pattern(path) == [InputFile(path, 21)]
