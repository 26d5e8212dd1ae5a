"""Every chart of the dashboards, built with plotly from database rows and stored metrics.

Builders return `plotly.graph_objects.Figure`s; `embed()` turns one into the plain dict that a template
places with `{% chart %}` and plotly.js draws in the browser, so a server render never draws an image.
Metrics dicts are ml's evaluation dicts (`ml.evaluate.compute_metrics`), as stored on TrainingRun.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import plotly.graph_objects as go

from ml.classes import SPLIT_LABELS

# A small template of our own: plotly's default one adds ~7 kB to every figure on the page.
TEMPLATE = go.layout.Template(
    layout=dict(
        font=dict(family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif", size=12, color="#222"),
        colorway=["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                  "#bcbd22", "#17becf"],
        paper_bgcolor="white",
        plot_bgcolor="white",
        xaxis=dict(gridcolor="#e5e5e5", linecolor="#999", zeroline=False, automargin=True),
        yaxis=dict(gridcolor="#e5e5e5", linecolor="#999", zeroline=False, automargin=True),
        hoverlabel=dict(namelength=-1),
    )
)
CURVES = {
    # chart id: (title, y-axis title, ((EpochMetric field, trace name), ...))
    "loss": ("Loss", "loss", (("train_loss", "train"), ("val_loss", "validation (PublicTest)"))),
    "accuracy": ("Accuracy", "accuracy", (("train_acc", "train"), ("val_acc", "validation (PublicTest)"),
                                          ("val_ferplus_acc", "validation, FER+ majority"))),
    "macro_f1": ("Macro-F1", "macro-F1", (("val_macro_f1", "validation (PublicTest)"),
                                          ("val_ferplus_macro_f1", "validation, FER+ majority"))),
    "lr": ("Learning rate", "learning rate", (("lr", "learning rate"),)),
}
COMPARED_CURVES = {
    "val_loss": "Validation loss",
    "val_acc": "Validation accuracy",
    "val_macro_f1": "Validation macro-F1",
    "train_loss": "Training loss",
}
COUNTS, ROW_NORMALISED = "Counts", "Row-normalised"


def embed(figure: go.Figure) -> dict:
    """The figure as JSON-ready data and layout, for `json_script` and `Plotly.newPlot`."""
    return figure.to_plotly_json()


def _figure(title: str, traces: Iterable, height: int = 320, **layout) -> go.Figure:
    figure = go.Figure(list(traces))
    # Title on the first line, legend on its own line under it: neither covers the other on a phone.
    defaults = dict(
        margin=dict(l=8, r=8, t=64, b=8), legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0, xanchor="left"),
    )
    figure.update_layout(
        template=TEMPLATE, height=height,
        title=dict(text=title, xref="container", x=0, xanchor="left", yref="container", y=1, yanchor="top",
                   pad=dict(t=10, l=8)),
        **{**defaults, **layout},
    )
    return figure


def _finite(value) -> float | None:
    """JSON has no NaN or infinity (a diverged epoch): such a point is left out of the line."""
    return value if value is not None and math.isfinite(value) else None


def _line_mode(points: int) -> str:
    return "lines+markers" if points <= 30 else "lines"


# Run page ------------------------------------------------------------------------------------------
def learning_curves(epochs: Sequence, best_epoch: int | None = None) -> dict[str, go.Figure]:
    """{chart id: figure} of loss, accuracy, macro-F1 and learning rate per epoch (EpochMetric rows)."""
    x = [row.epoch for row in epochs]
    figures = {}
    for chart_id, (title, y_title, fields) in CURVES.items():
        # A FER+ curve only where the run was scored on FER+ (its data set has votes).
        fields = [(field, name) for field, name in fields
                  if not field.startswith("val_ferplus") or any(getattr(row, field, None) is not None for row in epochs)]
        traces = [
            go.Scatter(x=x, y=[_finite(getattr(row, field)) for row in epochs], name=name, mode=_line_mode(len(x)),
                       hovertemplate=f"epoch %{{x}}<br>{name}: %{{y:.4g}}<extra></extra>")
            for field, name in fields
        ]
        figure = _figure(title, traces, xaxis_title="epoch", yaxis_title=y_title, showlegend=len(fields) > 1)
        if chart_id == "lr" and _spans_decades([row.lr for row in epochs]):
            figure.update_yaxes(type="log")
        if best_epoch:
            figure.add_vline(x=best_epoch, line=dict(color="#888", dash="dot", width=1))
        figures[chart_id] = figure
    return figures


def _spans_decades(values: Sequence[float]) -> bool:
    positive = [v for v in values if v and v > 0 and math.isfinite(v)]
    return bool(positive) and len(positive) == len(values) and max(positive) / min(positive) >= 20


def _label_set(metrics: dict) -> str:
    return ", FER+ majority" if metrics.get("labels") == "ferplus_majority" else ""


def per_class_bars(metrics: dict, split: str = "private_test") -> go.Figure:
    """Precision, recall and F1 per class, grouped: one trace each."""
    names = metrics["class_names"]
    per_class = metrics["per_class"]
    support = [per_class[name]["support"] for name in names]
    traces = [
        go.Bar(x=names, y=[per_class[name][key] for name in names], name=label, customdata=support,
               hovertemplate=f"%{{x}}<br>{label}: %{{y:.3f}}<br>support %{{customdata}}<extra></extra>")
        for key, label in (("precision", "precision"), ("recall", "recall"), ("f1", "F1"))
    ]
    return _figure(f"Per class on {SPLIT_LABELS[split]}{_label_set(metrics)}", traces, barmode="group", yaxis=dict(range=[0, 1]))


def confusion_heatmap(metrics: dict, split: str = "private_test") -> go.Figure:
    """Rows true, columns predicted; counts written in the cells, and buttons that switch to each row
    divided by its total (each true class's recall on the diagonal) and back."""
    names = metrics["class_names"]
    counts = metrics["confusion_matrix"]
    normalised = row_normalise(counts)
    custom = [[[count, share] for count, share in zip(*row)] for row in zip(counts, normalised)]
    count_view = {"z": [counts], "text": [[[str(c) for c in row] for row in counts]], "zmax": [max(map(max, counts)) or 1]}
    share_view = {"z": [normalised], "text": [[[f"{s:.0%}" for s in row] for row in normalised]], "zmax": [1]}
    heatmap = go.Heatmap(
        z=count_view["z"][0], x=names, y=names, text=count_view["text"][0], texttemplate="%{text}",
        zmin=0, zmax=count_view["zmax"][0], colorscale="Blues", customdata=custom, showscale=False,
        hovertemplate="true %{y}, predicted %{x}<br>%{customdata[0]} images, %{customdata[1]:.1%} of %{y}<extra></extra>",
    )
    size = max(360, 60 * len(names) + 120)
    figure = _figure(
        f"Confusion matrix on {SPLIT_LABELS[split]}{_label_set(metrics)}", [heatmap], height=size,
        xaxis=dict(title=dict(text="predicted", standoff=8), constrain="domain", showgrid=False, automargin=True),
        yaxis=dict(title=dict(text="true", standoff=8), autorange="reversed", showgrid=False, automargin=True),
        margin=dict(l=8, r=8, t=76, b=8),
        updatemenus=[dict(
            type="buttons", direction="right", showactive=True, active=0, x=0, xanchor="left", y=1.0,
            yanchor="bottom", pad=dict(t=0, b=4),
            buttons=[dict(label=COUNTS, method="restyle", args=[count_view]),
                     dict(label=ROW_NORMALISED, method="restyle", args=[share_view])],
        )],
    )
    return figure


def evaluation_set_charts(metrics: dict, set_name: str) -> tuple[go.Figure, go.Figure]:
    """Per-class bars and the confusion matrix of a run on an evaluation set's held-out photos
    (emotions.photo_sets.RunEvaluation), titled with the set."""
    bars, confusion = per_class_bars(metrics), confusion_heatmap(metrics)
    bars.update_layout(title_text=f"Per class on {set_name} (held-out photos)")
    confusion.update_layout(title_text=f"Confusion matrix on {set_name} (held-out photos)")
    return bars, confusion


def row_normalise(counts: Sequence[Sequence[int]]) -> list[list[float]]:
    """Each row divided by its sum; a class with no test images stays all zeros."""
    return [[c / total if total else 0.0 for c in row] for row, total in ((row, sum(row)) for row in counts)]


# Compare page --------------------------------------------------------------------------------------
def compared_curves(runs: Sequence[tuple[str, Sequence]]) -> dict[str, go.Figure]:
    """{field: figure} with one trace per run: `runs` is (label, EpochMetric rows) pairs."""
    return {
        field: _figure(
            title,
            [go.Scatter(x=[row.epoch for row in rows], y=[_finite(getattr(row, field)) for row in rows], name=label,
                        mode=_line_mode(len(rows)), hovertemplate=f"{label}<br>epoch %{{x}}: %{{y:.4g}}<extra></extra>")
             for label, rows in runs],
            xaxis_title="epoch", yaxis_title=title.split(" ", 1)[1],
        )
        for field, title in COMPARED_CURVES.items()
    }


MEMBER_CURVES = ("val_acc", "val_macro_f1")


def member_validation_curves(members: Sequence[tuple[str, Sequence]]) -> dict[str, go.Figure]:
    """An ensemble's members' validation accuracy and macro-F1, one trace per member: `members` is (label,
    EpochMetric rows) pairs; a member without epochs draws no line."""
    figures = compared_curves([(label, rows) for label, rows in members if rows])
    return {field: figures[field] for field in MEMBER_CURVES}


def compared_per_class_f1(runs: Sequence[tuple[str, dict]], split: str = "private_test") -> go.Figure:
    """F1 per class, one bar per run side by side; `runs` is (label, metrics) pairs with metrics."""
    names = []
    for _, metrics in runs:
        names += [name for name in metrics["class_names"] if name not in names]
    traces = [
        go.Bar(x=names, y=[metrics["per_class"].get(name, {}).get("f1") for name in names], name=label,
               hovertemplate=f"{label}<br>%{{x}}: F1 %{{y:.3f}}<extra></extra>")
        for label, metrics in runs
    ]
    return _figure(f"F1 per class on {SPLIT_LABELS[split]}", traces, barmode="group", yaxis=dict(range=[0, 1]))


# About the model ------------------------------------------------------------------------------------
def f1_per_emotion(test_sets: Sequence[tuple[str, dict[str, float | None]]], class_names: Sequence[str]) -> go.Figure:
    """F1 per emotion, one bar per test set side by side: where the model is reliable and where it is not.
    `test_sets` is (label, {class: F1 or None}) pairs; None (a set without that class) draws no bar."""
    traces = [
        go.Bar(x=list(class_names), y=[f1.get(name) for name in class_names], name=label,
               hovertemplate=f"{label}<br>%{{x}}: F1 %{{y:.2f}}<extra></extra>")
        for label, f1 in test_sets
    ]
    return _figure("F1 per emotion (1 is always right, 0 never)", traces, barmode="group", yaxis=dict(range=[0, 1]))


# Dataset page --------------------------------------------------------------------------------------
def class_counts(counts: dict[str, dict[str, int]], class_names: Sequence[str]) -> go.Figure:
    """Images per class, one trace per split: the imbalance at a glance (Dataset.counts)."""
    traces = [
        go.Bar(x=list(class_names), y=[per_class.get(name, 0) for name in class_names], name=SPLIT_LABELS.get(split, split),
               hovertemplate=f"{SPLIT_LABELS.get(split, split)}<br>%{{x}}: %{{y:,}} images<extra></extra>")
        for split, per_class in counts.items()
    ]
    return _figure("Images per class and split", traces, barmode="group", yaxis_title="images")


# Upload results -------------------------------------------------------------------------------------
FACE_CHART_HEIGHT = 170  # a face's card (crop, label, this chart and the correction buttons) stays under 300 px


def emotion_probabilities(probabilities: dict[str, float], title: str = "") -> go.Figure:
    """One face's probability for each class, in the model's class order; the predicted one stands out.
    Compact: the face's card names it, so the chart has no title of its own unless given one."""
    names = list(probabilities)
    values = [probabilities[name] for name in names]
    best = max(range(len(values)), key=values.__getitem__) if values else None
    colours = ["#1a6fb0" if i == best else "#9db8d3" for i in range(len(values))]
    trace = go.Bar(x=names, y=values, marker_color=colours, text=[f"{v:.0%}" for v in values], textposition="outside",
                   hovertemplate="%{x}: %{y:.1%}<extra></extra>")
    return _figure(title, [trace], height=FACE_CHART_HEIGHT, showlegend=False,
                   yaxis=dict(range=[0, 1.15], tickformat=".0%", nticks=4), margin=dict(l=8, r=8, t=40 if title else 8, b=8))


# The live camera page ------------------------------------------------------------------------------
# One colour per emotion, the same on the live page's boxes (static/js/live.js reads them off the chart).
EMOTION_COLOURS = {"Angry": "#d62728", "Disgust": "#2ca02c", "Fear": "#9467bd", "Happy": "#e6a100",
                   "Sad": "#1f77b4", "Surprise": "#17becf", "Neutral": "#7f7f7f"}
LIVE_WINDOW_SECONDS = 60


def live_timeline(class_names: Sequence[str]) -> go.Figure:
    """The live page's rolling chart, empty: each emotion's probability for the largest face in view over
    the last LIVE_WINDOW_SECONDS. The page adds a point per frame; a frame without a face leaves a gap."""
    spare = iter(TEMPLATE.layout.colorway)
    traces = [
        go.Scatter(x=[], y=[], name=name, mode="lines", line=dict(color=EMOTION_COLOURS.get(name) or next(spare), width=2),
                   connectgaps=False, hovertemplate=f"{name}: %{{y:.0%}}<extra></extra>")
        for name in class_names
    ]
    return _figure("The last minute (the largest face)", traces, height=300,
                   xaxis=dict(range=[-LIVE_WINDOW_SECONDS, 0], title=dict(text="seconds (0 is now)"), fixedrange=True),
                   yaxis=dict(range=[0, 1], tickformat=".0%", fixedrange=True))


# Video results --------------------------------------------------------------------------------------
def emotion_colour(name: str, index: int) -> str:
    """EMOTION_COLOURS' colour for a FER2013 class; a class of another model gets the colorway's."""
    return EMOTION_COLOURS.get(name) or TEMPLATE.layout.colorway[index % len(TEMPLATE.layout.colorway)]


def emotion_timeline(frames: Sequence[dict], class_names: Sequence[str], title: str,
                     duration: float | None = None) -> go.Figure:
    """One face through a video (its frames: {t, label, probabilities}): a line per class, the probability
    over time, and under them the top emotion as a band of its colour (one heatmap row)."""
    names = list(class_names) or (list(frames[0]["probabilities"]) if frames else [])
    times = [frame["t"] for frame in frames]
    traces = [
        go.Scatter(x=times, y=[frame["probabilities"].get(name) for frame in frames], name=name,
                   mode=_line_mode(len(times)), line=dict(color=emotion_colour(name, i), width=2), yaxis="y",
                   hovertemplate=f"{name}: %{{y:.0%}} at %{{x:.2f}} s<extra></extra>")
        for i, name in enumerate(names)
    ]
    # The band: each sampled frame's top class as an index, drawn in that class's colour.
    steps = max(1, len(names) - 1)
    scale = []
    for i, name in enumerate(names):
        colour = emotion_colour(name, i)
        scale += [[max(0.0, (i - 0.5) / steps), colour], [min(1.0, (i + 0.5) / steps), colour]]
    labels = [frame["label"] for frame in frames]
    traces.append(go.Heatmap(
        x=times, y=["top"], z=[[names.index(label) for label in labels]], customdata=[labels], zmin=0, zmax=steps,
        colorscale=scale, showscale=False, yaxis="y2", name="top emotion",
        hovertemplate="top emotion at %{x:.2f} s: %{customdata}<extra></extra>",
    ))
    x_range = [0, duration] if duration else None
    return _figure(
        title, traces, height=340,
        # The time axis under the band, so the band sits between the lines and the seconds.
        xaxis=dict(title="seconds", range=x_range, anchor="y2", automargin=True),
        yaxis=dict(domain=[0.2, 1], range=[0, 1], tickformat=".0%", title="probability", automargin=True),
        yaxis2=dict(domain=[0, 0.1], showgrid=False, fixedrange=True, ticks=""),
        margin=dict(l=8, r=8, t=64, b=8),
    )


def emotion_shares(shares: dict[int, dict[str, float]], class_names: Sequence[str]) -> go.Figure:
    """Each face's share of its time per top emotion ({track: {class: share}}): a stacked bar per face."""
    tracks = sorted(shares)
    names = list(class_names) or (list(shares[tracks[0]]) if tracks else [])
    faces = [f"Face {track}" for track in tracks]
    traces = [
        go.Bar(y=faces, x=[shares[track].get(name, 0) for track in tracks], name=name, orientation="h",
               marker_color=emotion_colour(name, i), hovertemplate=f"%{{y}}: {name} %{{x:.0%}} of the time<extra></extra>")
        for i, name in enumerate(names)
    ]
    return _figure("Share of time per emotion", traces, height=max(200, 120 + 40 * len(tracks)), barmode="stack",
                   xaxis=dict(range=[0, 1], tickformat=".0%"), yaxis=dict(autorange="reversed"),
                   legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0, xanchor="left", traceorder="normal"))
