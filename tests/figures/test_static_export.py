"""Static figure export: kaleido's per-figure errors are caught, retried once in a fresh session,
and otherwise named in one note with the command that retries; only whole images are ever written."""

from concurrent.futures import Future
from pathlib import Path

import plotly.graph_objects as go
import pytest

from bilin.running import static_images
from bilin.running.folder import RunDir, export_static
from bilin.running.kaleido_session import kaleido_options
from bilin.running.static_export import StaticExport
from bilin.running.static_images import image_problem

PNG = b"\x89PNG\r\n\x1a\n" + b"\0\0\0\x0dIHDR" + (4).to_bytes(4, "big") * 2 + b"\x08\x06\0\0\0" + b"\0" * 4
PNG += b"\0\0\0\0IEND\xaeB`\x82"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"><rect width="4" height="4"/></svg>'


def test_only_whole_images_pass_the_check() -> None:
    assert image_problem(PNG, "png") is None
    assert image_problem(SVG, "svg") is None
    assert image_problem(b"", "png") == "kaleido returned an empty image"
    assert image_problem(PNG[:-12], "png") == "not a whole PNG"  # truncated: no IEND
    assert image_problem(SVG[:-6], "svg").startswith("not a whole SVG")
    assert image_problem(b"<html/>", "svg") == "not an SVG"
    assert image_problem(SVG, "png") == "not a whole PNG"


class FakeKaleido:
    """Stands in for the browser: answers each session from a script, {file: [first, second]}."""

    def __init__(self, script: dict[str, list]):
        self.script, self.sessions = script, []

    async def __call__(self, requests):
        session = len(self.sessions)
        self.sessions.append(len(requests))
        out = []
        for r in requests:
            name = r.figure["layout"]["title"]["text"] + "." + r.format
            answer = self.script.get(name, [None, None])[session]
            out.append(answer if answer is not None else (PNG if r.format == "png" else SVG))
        return out


@pytest.fixture
def figures(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv("BILIN_FIGURE_FORMATS", "png,svg")
    run = RunDir(tmp_path / "run")
    for name in ("a", "b"):
        run.write_text(f"figures/{name}.json", go.Figure(layout={"title": {"text": name}}).to_json())
    return run.file("figures")


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_a_figure_that_fails_once_is_rendered_again_in_a_fresh_session(figures: Path, monkeypatch) -> None:
    fake = FakeKaleido({"a.png": [RuntimeError("Target closed"), None], "b.svg": [b"", None]})
    monkeypatch.setattr(static_images, "_render_all", fake)
    assert export_static(figures, ["a", "b"]) is None
    assert fake.sessions == [4, 2]  # the retry asks only for the two that failed
    assert files_in(figures) == ["a.json", "a.png", "a.svg", "b.json", "b.png", "b.svg"]  # no temporary file
    assert (figures / "a.png").read_bytes() == PNG


def test_a_figure_that_fails_twice_is_named_with_the_command_that_retries(figures: Path, monkeypatch) -> None:
    (figures / "a.png").write_bytes(b"an older image of a")  # e.g. from before a resume: must not stay
    fake = FakeKaleido({"a.png": [RuntimeError("Target closed"), PNG[:20]]})
    monkeypatch.setattr(static_images, "_render_all", fake)
    note = export_static(figures, ["a", "b"])
    assert note.startswith("1 of 4 static figures could not be rendered (a.png; a.png: not a whole PNG)")
    assert note.endswith(f"retry with: bilin export-figures {figures.parent}")
    assert files_in(figures) == ["a.json", "a.svg", "b.json", "b.png", "b.svg"]


def test_a_session_that_breaks_leaves_a_note_and_no_partial_files(figures: Path, monkeypatch) -> None:
    async def broken(requests):
        raise RuntimeError("browser crashed")

    monkeypatch.setattr(static_images, "_render_all", broken)
    note = export_static(figures, ["a", "b"])
    assert note.startswith("4 of 4 static figures could not be rendered") and "browser crashed" in note
    assert files_in(figures) == ["a.json", "b.json"]


def test_a_fault_in_the_export_never_fails_the_figures_html(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("BILIN_FIGURE_FORMATS", "png")

    def fault(self):
        raise KeyError("a bug in the export")

    monkeypatch.setattr(StaticExport, "finish", fault)
    run = RunDir(tmp_path / "run")
    note = run.write_figures({"curves": go.Figure()})
    assert note.startswith("static figures not written (") and "bilin export-figures" in note
    assert (run.file("figures") / "curves.html").is_file()


def test_the_browser_page_asks_the_network_for_nothing(monkeypatch) -> None:
    """kaleido's default page loads MathJax from a CDN at every tab load; offline that can hold each
    image 5 s. bilin's page loads only local scripts, unless plotly.io's defaults name a MathJax."""
    import plotly.io as pio
    from kaleido._page_generator import PageGenerator

    options = kaleido_options()
    assert options["mathjax"] is False
    page = PageGenerator(plotly=options.get("plotlyjs"), mathjax=options["mathjax"]).generate_index()
    assert "http://" not in page and "https://" not in page, page
    monkeypatch.setattr(pio.defaults, "mathjax", "/opt/mathjax/tex-svg.js")
    assert kaleido_options()["mathjax"] == "/opt/mathjax/tex-svg.js"


class FakeWarm:
    """Stands in for the warm browser: counts what it drew and whether it was closed."""

    def __init__(self, fails: bool = False):
        self.drawn, self.closed, self.fails = 0, False, fails
        self.formats = frozenset({"png", "svg"})

    def submit(self, requests):
        drawing = Future()
        if self.fails:
            drawing.set_exception(RuntimeError("Target crashed"))
        else:
            self.drawn += len(requests)
            drawing.set_result([PNG if r.format == "png" else SVG for r in requests])
        return drawing

    def close(self):
        self.closed = True


def test_a_warm_browser_draws_every_later_run_s_figures_until_it_fails(figures: Path, monkeypatch) -> None:
    """A sequential sweep's runs share one browser (each would otherwise wait for a cold start); one
    whose session fails is closed and never used again, and a retry always gets a fresh session."""
    warm = FakeWarm()
    monkeypatch.setattr(static_images, "_warm", warm)
    monkeypatch.setattr(static_images, "_render_all", FakeKaleido({}))
    assert export_static(figures, ["a", "b"]) is None and export_static(figures, ["a"]) is None
    assert warm.drawn == 6 and not warm.closed and static_images._warm is warm
    fresh = FakeKaleido({})
    monkeypatch.setattr(static_images, "_render_all", fresh)
    request = static_images.ImageRequest({"layout": {"title": {"text": "c"}}}, "png", 4, 4, 1)
    assert static_images.render_images([request], fresh=True) == [PNG]
    assert warm.closed and static_images._warm is None and fresh.sessions == [1]
    broken = FakeWarm(fails=True)
    monkeypatch.setattr(static_images, "_warm", broken)
    assert export_static(figures, ["a"]) is None  # drawn again in a session of its own
    assert broken.closed and static_images._warm is None and fresh.sessions == [1, 2]


def test_with_a_warm_browser_each_figure_is_drawn_as_soon_as_it_is_added(tmp_path: Path, monkeypatch) -> None:
    """The browser draws a run's figure while the run writes the next one's page; finish only waits."""
    monkeypatch.setenv("BILIN_FIGURE_FORMATS", "png,svg")
    warm = FakeWarm()
    monkeypatch.setattr(static_images, "_warm", warm)
    monkeypatch.setattr(static_images, "_render_all", FakeKaleido({}))  # a session of its own: not expected
    run = RunDir(tmp_path / "run")
    export = StaticExport(run.file("figures"), ["png", "svg"], run.write_bytes, run.remove)
    export.add("a", go.Figure(layout={"title": {"text": "a"}}).to_plotly_json())
    assert warm.drawn == 2 and not run.file("a.png").exists()  # drawing, not yet written
    export.add("b", go.Figure(layout={"title": {"text": "b"}}).to_plotly_json())
    assert export.finish() is None and warm.drawn == 4
    assert sorted(p.name for p in run.path.iterdir()) == ["a.png", "a.svg", "b.png", "b.svg"]
    assert static_images._render_all.sessions == []


def test_a_run_s_pages_and_images_are_those_export_figures_makes_from_its_json(tmp_path: Path, monkeypatch) -> None:
    """write_figures hands the browser the JSON it wrote, not the figure read back: the same requests."""
    monkeypatch.setenv("BILIN_FIGURE_FORMATS", "png,svg")
    seen: list[list] = []

    async def record(requests):
        seen.append(requests)
        return [PNG if r.format == "png" else SVG for r in requests]

    monkeypatch.setattr(static_images, "_render_all", record)
    run = RunDir(tmp_path / "run")
    figure = go.Figure(go.Heatmap(z=[[0.25, 1.5], [3, 4]]), layout={"title": {"text": "h"}, "width": 320})
    assert run.write_figures({"h": figure}) is None
    assert export_static(run.file("figures"), ["h"]) is None
    assert seen[0] == seen[1] and [(r.format, r.width, r.height, r.scale) for r in seen[0]] == [
        ("png", 320, 500, 2),
        ("svg", 320, 500, 1),
    ]


def test_a_figure_given_as_its_builder_is_built_once_and_written_as_the_figure(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("BILIN_FIGURE_FORMATS", "")
    built = []

    def build() -> go.Figure:
        built.append(1)
        return go.Figure(go.Bar(x=["a"], y=[1]), layout={"title": {"text": "t"}})

    lazy, eager = RunDir(tmp_path / "lazy"), RunDir(tmp_path / "eager")
    assert lazy.write_figures({"f": build}) is None and eager.write_figures({"f": build()}) is None
    assert built == [1, 1]  # once for each folder
    for page in ("f.json", "f.html"):
        assert lazy.file(f"figures/{page}").read_text() == eager.file(f"figures/{page}").read_text()


def test_a_builder_that_fails_is_named_in_the_note_and_the_other_figures_are_written(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("BILIN_FIGURE_FORMATS", "")

    def broken() -> go.Figure:
        raise KeyError("no such axis")

    run = RunDir(tmp_path / "run")
    note = run.write_figures({"bad": broken, "good": go.Figure()})
    assert note.startswith("figures not built (bad; bad: KeyError: 'no such axis'), a fault in bilin")
    assert sorted(p.name for p in run.file("figures").glob("*.json")) == ["good.json"]


def test_a_fault_while_a_drawing_starts_is_a_note_after_every_page_is_written(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("BILIN_FIGURE_FORMATS", "png")

    def fault(requests):
        raise KeyError("a bug in starting a drawing")

    monkeypatch.setattr("bilin.running.static_export.start_images", fault)
    run = RunDir(tmp_path / "run")
    note = run.write_figures({"a": go.Figure(), "b": go.Figure()})
    assert note.startswith("static figures not written (") and "bilin export-figures" in note
    assert sorted(p.name for p in run.file("figures").glob("*.html")) == ["a.html", "b.html"]
