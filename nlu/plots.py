"""Draw the evaluation's pictures: `python nlu/plots.py figures.json` with a Python that has matplotlib.

Run by `gridtalk nlu eval` with Rasa's interpreter (.venv-rasa ships matplotlib; the app does not need it).
The JSON holds: name, threshold, ambiguity, labels, confusion (counts[gold][decided]),
curves ({language: [[t, fa, r]]}), confusion_png, curve_png.
"""

from __future__ import annotations

import json
import sys
from typing import Any


def main(path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(path, encoding="utf-8") as spec:
        data: dict[str, Any] = json.load(spec)
    labels: list[str] = data["labels"]
    counts: list[list[int]] = data["confusion"]

    size = max(8.0, 0.38 * len(labels))
    fig, ax = plt.subplots(figsize=(size + 2, size))
    rows = [[c / max(1, sum(row)) for c in row] for row in counts]
    image = ax.imshow(rows, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=7)
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    for i, row in enumerate(counts):
        for j, count in enumerate(row):
            if count:
                color = "white" if rows[i][j] > 0.5 else "black"
                ax.text(j, i, str(count), ha="center", va="center", fontsize=6, color=color)
    ax.set_xlabel("decided (normalised text; nlu_fallback: refused by the threshold or the margin)")
    ax.set_ylabel("gold intent")
    ax.set_title(f"{data['name']}: confusion matrix (row share, counts in cells)")
    fig.colorbar(image, ax=ax, fraction=0.03)
    fig.tight_layout()
    fig.savefig(data["confusion_png"], dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 5.5))
    threshold = float(data["threshold"])
    for language, curve in data["curves"].items():
        fa = [point[1] for point in curve]
        recall = [point[2] for point in curve]
        (line,) = ax.plot(fa, recall, marker=".", markersize=3, label=language)
        at = min(curve, key=lambda point: abs(point[0] - threshold))
        ax.scatter([at[1]], [at[2]], color=line.get_color(), s=50, edgecolors="black", zorder=3)
    widest = max((point[1] for curve in data["curves"].values() for point in curve), default=1.0)
    ax.axvline(0.05, color="grey", linestyle="--", linewidth=1, label="5 % false accept")
    ax.set_xlabel("out-of-scope false-accept rate")
    ax.set_ylabel("in-scope recall (answered with the right intent)")
    ax.set_xlim(-0.01, min(1.02, max(0.2, widest + 0.02)))
    ax.set_ylim(-0.02, 1.02)
    ax.grid(True, alpha=0.3)
    margin = float(data.get("ambiguity", 0.0))
    ax.set_title(f"{data['name']}: threshold 0..1 at margin {margin:g} (dots: threshold {threshold:g})")
    ax.legend()
    fig.tight_layout()
    fig.savefig(data["curve_png"], dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main(sys.argv[1])
