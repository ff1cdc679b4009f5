import shutil

import pytest

from tslib.data.sources import (
    DatasetNotFoundError,
    find_intel_root,
    find_landscape_root,
    index_intel,
    index_landscape,
)


def test_intel_found_at_download_folder_and_above(intel_root, tmp_path):
    assert find_intel_root(intel_root) == intel_root
    assert find_intel_root(tmp_path) == intel_root  # one level up
    files, skipped = index_intel(tmp_path)
    labelled = [f for f in files if f.label]
    assert len(labelled) == 6 * 13 and not skipped
    assert sum(f.official_split == "test" for f in labelled) == 6 * 3
    assert [f.official_split for f in files if not f.label] == ["unlabeled"] * 4


def test_intel_single_level_split_folders(tmp_path, intel_root):
    # Some mirrors drop Kaggle's doubled folder (seg_train/<class> instead of seg_train/seg_train/<class>).
    flat = tmp_path / "flat"
    shutil.copytree(intel_root / "seg_train" / "seg_train", flat / "seg_train")
    files, _ = index_intel(flat)
    assert len(files) == 60
    assert {f.label for f in files} == {"buildings", "forest", "glacier", "mountain", "sea", "street"}


def test_landscape_nested_layout_and_coast_is_sea(landscape_root):
    root = find_landscape_root(landscape_root)
    assert root.name == "Landscape Classification" and (root / "Training Data").is_dir()
    files, _ = index_landscape(landscape_root)
    assert {f.label for f in files} == {"sea", "desert", "forest", "glacier", "mountain"}
    coast = [f for f in files if "Coast" in f.path.name]
    assert coast and all(f.label == "sea" for f in coast)
    assert {f.official_split for f in files} == {"train", "val", "test"}


def test_hidden_and_non_image_files(intel_root):
    cls = intel_root / "seg_train" / "seg_train" / "sea"
    (cls / ".DS_Store").write_bytes(b"\x00\x01junk")
    (cls / "._1.jpg").write_bytes(b"appledouble")
    (cls / "notes.txt").write_text("not an image")
    (intel_root / "seg_train" / ".hidden_dir").mkdir()
    files, skipped = index_intel(intel_root)
    names = {f.path.name for f in files}
    assert ".DS_Store" not in names and "._1.jpg" not in names
    assert [(p.name, "extension" in r) for p, r in skipped] == [("notes.txt", True)]


@pytest.mark.parametrize("finder,needle", [(find_intel_root, "seg_train"), (find_landscape_root, "Training Data")])
def test_missing_or_wrong_root_errors_name_the_layout(tmp_path, finder, needle):
    with pytest.raises(DatasetNotFoundError, match="not a folder") as e:
        finder(tmp_path / "nope")
    assert needle in str(e.value) and "kaggle" in str(e.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetNotFoundError, match=f"no .* dataset found.*{needle}"):
        finder(tmp_path / "empty")


def test_unknown_class_folder_is_a_clear_error(intel_root):
    (intel_root / "seg_train" / "seg_train" / "cats").mkdir()
    with pytest.raises(DatasetNotFoundError, match="unexpected class folder.*cats"):
        index_intel(intel_root)
