"""Sweeps (helpers.sweeps, notebook 09): the plan is checked before anything starts, and on a
real local cluster (2 worker processes, 1 thread each, 64 px, 3 iterations, the offline
backbone) every run lands once, targets are built once per group per worker, a killed worker's
run is retried, and a rerun starts nothing."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers.cli import main
from helpers.errors import StyleTransferError
from helpers.settings import Settings
from helpers.sweeps import grid as sweep_grid
from helpers.sweeps import sheet as sweep_sheet
from helpers.sweeps.command import sweep_value

TINY = {"size": 64, "iterations": 3, "backbone": "vgg16-hed"}
GRID = {"style_weight": [10, 100], "style_layers": ["conv1", "conv1-2"]}
PAIR = [("chelsea", "swirls")]


def rows(out: Path) -> list[dict[str, str]]:
    with open(out / "index.csv", newline="") as f:
        return list(csv.DictReader(f))


# --- the plan: no Dask, no TensorFlow ------------------------------------------------------

def test_plan_expands_the_grid_per_pair_and_groups_runs_that_share_targets():
    runs = sweep_grid.plan(GRID, [("chelsea", "swirls"), ("chelsea", "mosaic")], **TINY)
    assert len(runs) == 8
    assert len({r.name for r in runs}) == 8
    assert len({r.group for r in runs}) == 4  # 2 pairs x 2 layer sets; weights share
    assert runs[0].options["style_layers"] == ("block1_conv1",)
    groups = [r.group for r in runs]
    assert groups == sorted(groups, key=groups.index)  # each group's runs together
    assert runs[0].name.startswith("chelsea_swirls__")


def test_named_values_and_layer_sets_label_the_runs():
    runs = sweep_grid.plan({"style_layers": {"shallow": ["block1_conv1"]},
                            "tv_weight": [1e-4]}, PAIR)
    assert runs[0].swept == {"style_layers": "shallow", "tv_weight": "0.0001"}
    assert sweep_grid.LAYER_SETS["conv1-5"][-1] == "block5_conv1"


@pytest.mark.parametrize("grid, fixed", [
    ({"style_weight": [10, -1]}, {}),
    ({"pooling": ["avg", "mix"]}, {}),
    ({"style_weigths": [1]}, {}),
    ({"style_weight": [0]}, {"content_weight": 0}),
    ({"style_scale": [9]}, {}),
])
def test_a_bad_value_is_refused_with_the_message_stylize_gives(grid, fixed, monkeypatch):
    from helpers.sweeps import engine

    monkeypatch.setattr(engine, "local_client", lambda *a, **k: pytest.fail("cluster started"))
    key, values = next(iter(grid.items()))
    with pytest.raises(StyleTransferError) as expected:
        for value in values:
            Settings.from_options(**fixed, **{key: value}).resolved("vgg19")
    with pytest.raises(StyleTransferError) as got:
        engine.sweep(grid, PAIR, "unused", **fixed)
    assert str(got.value) == str(expected.value)
    assert "\n" not in str(got.value)


def test_the_command_line_refuses_a_bad_value_in_one_line(capsys, tmp_path):
    assert main(["sweep", "--style-weight", "10,abc", "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err == "error: style_weight must be a number, not 'abc'\n"
    assert main(["sweep", str(tmp_path), "--tv-weight", "1", "-o", str(tmp_path / "o")]) == 2
    assert "no images in" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_command_line_values_are_read_by_the_settings_parser():
    assert sweep_value("style_weight", "1e-3") == 1e-3
    assert sweep_value("size", "64") == 64
    assert sweep_value("pyramid_levels", "1") == 1  # its default is None: no type to guess
    assert sweep_value("scales", "none") is None
    assert sweep_value("style_layers", "conv1-2") == "conv1-2"
    assert sweep_value("style_layers", "block1_conv1+block3_conv1") == ("block1_conv1",
                                                                       "block3_conv1")
    assert sweep_value("scale_iterations", "10+5") == (10, 5)
    assert sweep_value("balance_style_layers", "false") is False
    assert sweep_value("pooling", "avg") == "avg"


def test_pairs_from_a_folder(tmp_path):
    for part, names in (("content", ["a", "b"]), ("style", ["s"])):
        (tmp_path / part).mkdir()
        for name in names:
            Image.new("RGB", (8, 8)).save(tmp_path / part / f"{name}.png")
    pairs = sweep_grid.find_pairs(tmp_path)
    assert [(c.name, s.name) for c, s in pairs] == [("a", "s"), ("b", "s")]


def write_index(folder: Path, swept: dict[str, list], pairs=(("chelsea", "swirls"),)) -> None:
    """A finished sweep's index.csv and PNGs (one grey tile per run), as the engine writes
    them: the pair, the swept settings, then the result columns."""
    import itertools

    from helpers.sweeps.engine import RESULT_COLUMNS

    fields = ["name", "content", "style", *swept, *RESULT_COLUMNS]
    with open(folder / "index.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fields)
        writer.writeheader()
        for i, ((c, s), values) in enumerate(itertools.product(
                pairs, itertools.product(*swept.values()))):
            name = f"run{i}"
            Image.fromarray(np.full((12, 16, 3), 20 * i % 255, np.uint8)).save(
                folder / f"{name}.png")
            writer.writerow({"name": name, "content": c, "style": s,
                             **dict(zip(swept, values, strict=True)), "total": 123456.7,
                             "content_loss": 0.5, "style_loss": 123456.1, "tv_loss": 0.1,
                             "iterations_done": 3, "seconds": 1, "worker": "w",
                             "stop_reason": "done", "image": f"{name}.png"})


def test_contact_sheet_rows_and_columns_by_two_settings(tmp_path):
    write_index(tmp_path, {"style_weight": [10, 100], "tv_weight": [0.001, 0.0001]})
    found = sweep_sheet.read_index(tmp_path)
    assert sweep_sheet.axes(found) == ("style_weight", "tv_weight", [])
    assert "style_weight=10, tv_weight=0.001\ntotal 1.23e+05" in sweep_sheet.tile_title(
        found[0], ["style_weight", "tv_weight"])
    path = sweep_sheet.contact_sheet(tmp_path)
    assert path == tmp_path / "sheet.png" and Image.open(path).size[0] > 200


def test_a_swept_iteration_count_is_an_axis_and_the_pairs_make_bands(tmp_path):
    """``iterations`` is a setting like any other (the index says how many were done in
    ``iterations_done``); with two settings swept the pairs stack as bands of rows."""
    write_index(tmp_path, {"iterations": [10, 30], "style_weight": [10, 100]},
                pairs=[("chelsea", "swirls"), ("chelsea", "mosaic")])
    found = sweep_sheet.read_index(tmp_path)
    assert sweep_sheet.axes(found) == ("iterations", "style_weight", ["pair"])
    assert sweep_sheet.axes(found, col_key="pair") == ("style_weight", "pair", ["iterations"])
    one = [r for r in found if r["style_weight"] == "10" and r["iterations"] == "10"]
    assert sweep_sheet.axes(one) == (None, "pair", [])  # only the pairs vary: one row
    sweep_sheet.contact_sheet(tmp_path)


def test_an_index_from_before_iterations_done_resumes_under_the_new_header(tmp_path):
    from helpers.sweeps.engine import OLD_COLUMNS, RESULT_COLUMNS, Index

    write_index(tmp_path, {"style_weight": [10, 100]})
    text = (tmp_path / "index.csv").read_text()
    (tmp_path / "index.csv").write_text(text.replace("iterations_done", "iterations", 1))
    columns = ["name", "content", "style", "style_weight", *RESULT_COLUMNS]
    assert "iterations" in OLD_COLUMNS and "iterations_done" not in OLD_COLUMNS
    index = Index(tmp_path / "index.csv", columns).open()
    assert index.names == {"run0", "run1"}
    assert (tmp_path / "index.csv").read_text() == text  # same rows, the new header
    with pytest.raises(StyleTransferError, match="lists other settings"):
        Index(tmp_path / "index.csv", ["name", "content", "style", "tv_weight",
                                       *RESULT_COLUMNS]).open()


def test_tile_titles_fit_their_tiles_and_the_title_fits_the_sheet(tmp_path):
    """Long values (layer lists, paths) wrap instead of running into the next tile."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    write_index(tmp_path, {"style_layers": ["block1_conv1,block2_conv1,block3_conv1",
                                            "block1_conv2,block2_conv2,block3_conv3"],
                           "content_layer": ["block4_conv2", "block5_conv2"]},
                pairs=[("photos/a_long_photo_name", "paintings/a_long_painting_name")])
    fig = sweep_sheet.draw_sheet(tmp_path)
    renderer = FigureCanvasAgg(fig).get_renderer()
    tiles = fig.axes  # 2 x 2, row by row
    for left_ax, right_ax in (tiles[0:2], tiles[2:4]):
        left, right = (ax.title.get_window_extent(renderer) for ax in (left_ax, right_ax))
        assert left.x1 < right.x0, "two tile titles overlap"
        assert left.x0 >= 0 and right.x1 <= fig.bbox.width
    title = fig._suptitle.get_window_extent(renderer)
    assert title.x0 >= 0 and title.x1 <= fig.bbox.width


def test_live_grid_fills_a_tile_and_a_click_gives_its_code_and_loads_the_app(tmp_path, capsys):
    import ast

    from helpers.sweeps.live import LiveGrid, command_line, python_code

    runs = sweep_grid.plan(GRID, PAIR, **TINY)
    live = LiveGrid(runs, tmp_path, ncols=2)
    name = runs[0].name
    Image.new("RGB", (8, 8)).save(tmp_path / f"{name}.png")
    (tmp_path / f"{name}.json").write_text(json.dumps({
        "settings": {"style_weight": 10.0, "style_layers": ["block1_conv1"]},
        "history": [{"total": 1.5, "content": 1.0, "style": 0.4, "tv": 0.1}]}))
    live.add({"name": name, "image": f"{name}.png", "total": "1.5"})
    assert bytes(live.images[name].value).startswith(b"\x89PNG")
    assert live.buttons[name].description.endswith("| 1.5")

    class App:  # the tuning app's public method, as a stand-in
        def load_run(self, settings, content, style):
            self.settings = {**settings, "content": content, "style": style}

    live.app = App()
    live.buttons[name].click()
    assert live.selected == name and not live.load_button.disabled
    assert "final loss: total 1.5 (content 1, style 0.4, tv 0.1)\n" in capsys.readouterr().out
    live.load_button.click()
    assert live.app.settings["style_weight"] == 10.0
    assert live.app.settings["content"] == "chelsea"
    code = python_code(runs[0])
    ast.parse(code)
    assert "helpers.data.default_content()" in code and "style_weight=10.0" in code
    assert "--style-layers block1_conv1 " in command_line(runs[0])


# --- a real local cluster ------------------------------------------------------------------

@pytest.fixture(scope="module")
def client():
    """2 spawned worker processes, 1 thread each."""
    from helpers.sweeps.engine import local_client

    c = local_client(64, workers=2)
    yield c
    cluster = c.cluster
    c.close()
    cluster.close()


def _clear(client):
    client.run(lambda: __import__("helpers.targets").targets.clear_cache())


def test_four_runs_land_once_each_and_targets_are_built_once_per_group_per_worker(
        client, tmp_path):
    from helpers.sweeps.engine import sweep

    _clear(client)
    workers = client.run(lambda: __import__("helpers").__file__)
    assert set(workers.values()) == {str(Path(sweep_grid.__file__).parents[1] / "__init__.py")}
    seen = []
    report = sweep(GRID, PAIR, tmp_path, client=client, progress=False, on_result=seen.append,
                   **TINY)
    assert (report.ran, report.skipped, report.failed) == (4, 0, {})
    assert len(list(tmp_path.glob("chelsea_swirls__*.png"))) == 4
    assert len(list(tmp_path.glob("chelsea_swirls__*.json"))) == 4
    index = rows(tmp_path)
    assert len(index) == 4 and len(seen) == 4
    assert (tmp_path / "sheet.png").exists()
    threads = client.run(lambda: __import__("helpers._tf")._tf.tf.config.threading
                         .get_intra_op_parallelism_threads())
    assert set(threads.values()) == {1}  # set by the worker plugin
    # Not Dask's malloc trim threshold, which made every TensorFlow tensor a fresh mmap.
    trim = client.run(lambda: __import__("os").environ.get("MALLOC_TRIM_THRESHOLD_"))
    assert set(trim.values()) == {None}
    meta = json.loads((tmp_path / f"{index[0]['name']}.json").read_text())
    assert meta["settings"]["size"] == 64 and meta["settings"]["backbone"] == "vgg16-hed"
    built = client.run(lambda: __import__("helpers.targets").targets.cache_info()["misses"])
    for address, misses in built.items():
        groups = {r["style_layers"] for r in index if r["worker"] == address}
        assert misses == len(groups), (address, misses, groups)


def test_a_rerun_with_resume_starts_no_run(client, tmp_path, monkeypatch):
    from helpers.sweeps import engine

    # The layers of a group above: the workers that painted it have its targets already.
    fixed = {**TINY, "style_layers": ["block1_conv1"]}
    first = engine.sweep({"style_weight": [10, 100]}, PAIR, tmp_path, client=client,
                         progress=False, sheet=False, **fixed)
    assert first.ran == 2
    monkeypatch.setattr(engine, "local_client", lambda *a, **k: pytest.fail("cluster started"))
    again = engine.sweep({"style_weight": [10, 100]}, PAIR, tmp_path, progress=False, **fixed)
    assert (again.ran, again.skipped) == (0, 2)
    assert len(rows(tmp_path)) == 2


@pytest.mark.slow
def test_a_killed_worker_s_run_is_retried_and_the_sweep_completes(client, tmp_path):
    from helpers.sweeps.engine import sweep

    marker = str(tmp_path / "killed-once")

    def crash_once(*args, **kwargs):  # pickled by value: the workers run it
        import os

        from helpers.sweeps.engine import paint

        if not os.path.exists(marker):
            open(marker, "w").close()
            os._exit(1)  # the worker process dies in the middle of its run
        return paint(*args, **kwargs)

    report = sweep({"style_weight": [10, 100]}, PAIR, tmp_path / "out", client=client,
                   progress=False, task=crash_once, sheet=False, **TINY)
    assert Path(marker).exists()
    assert (report.ran, report.failed) == (2, {})
    assert len(rows(tmp_path / "out")) == 2


def test_the_command_line_sweeps_on_a_given_scheduler(client, tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["sweep", "--style-weight", "10", "--size", "64", "--iterations", "3",
                 "--backbone", "vgg16-hed", "-o", str(out), "--scheduler",
                 client.scheduler.address, "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "Sweep: 2 runs" in printed and "Painted 2, 0 already on disk, 0 failed" in printed
    assert {r["style"] for r in rows(out)} == {"swirls", "mosaic"}  # the bundled pairs
    assert (out / "sheet.png").exists()
