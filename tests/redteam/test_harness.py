"""The harness itself: the snapshot sees a deleted, an edited and an added file, and ignores owned paths."""

from pathlib import Path

from tests.redteam.harness import snapshot


def test_snapshot_sees_every_change_outside_owned_paths(tmp_path: Path) -> None:
    (tmp_path / "keep").mkdir()
    (tmp_path / "keep" / "a.txt").write_text("a")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "b.txt").write_text("b")
    before = snapshot(tmp_path, ("mine",))
    (tmp_path / "mine" / "b.txt").write_text("changed, but owned")
    (tmp_path / "mine" / "c.txt").write_text("new, but owned")
    assert snapshot(tmp_path, ("mine",)) == before
    (tmp_path / "keep" / "a.txt").write_text("edited")
    assert snapshot(tmp_path, ("mine",)) != before
    (tmp_path / "keep" / "a.txt").write_text("a")
    assert snapshot(tmp_path, ("mine",)) == before
    (tmp_path / "keep" / "a.txt").unlink()
    assert snapshot(tmp_path, ("mine",)) != before
    (tmp_path / "keep" / "a.txt").write_text("a")
    (tmp_path / "keep" / "new.txt").write_text("x")
    assert snapshot(tmp_path, ("mine",)) != before
