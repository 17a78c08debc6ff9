"""Write a trained model's folder: the base graph with the new last layer, its config and
tokenizer, TRAINING.json, a card and a manifest; built in a fresh folder beside the target,
loaded once as a check, then renamed into place (never a half-written folder)."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from ..runtime.features import FeatureReader
from ..runtime.file_modes import as_umask_makes
from ..runtime.head_fit import Head
from ..runtime.head_graph import with_head
from ..runtime.left_behind import remove_left_folders
from ..runtime.model import SentimentModel
from ..runtime.model_files import MANIFEST_NAME, ModelFiles, write_manifest

TRAINING_FILE = "TRAINING.json"
FOLDER_FILES = frozenset(
    {"model.onnx", "config.json", "tokenizer.json", TRAINING_FILE, "MODEL_CARD.md", MANIFEST_NAME}
)


def write_model_folder(
    target: Path,
    base: ModelFiles,
    reader: FeatureReader,
    head: Head,
    training: dict,
    replace: bool,
) -> None:
    """The base graph with the new head, and its config, tokenizer, card and manifest."""

    def fill(building: Path) -> None:
        (building / "model.onnx").write_bytes(
            with_head(reader.graph, reader.tensor, head.weight, head.bias)
        )
        labels = training["labels"]
        config = json.loads(base.config.read_text(encoding="utf-8"))
        config["id2label"] = {str(i): label for i, label in enumerate(labels)}
        config["label2id"] = {label: i for i, label in enumerate(labels)}
        config.pop("problem_type", None)
        (building / "config.json").write_text(json.dumps(config, indent=2) + "\n", "utf-8")
        shutil.copyfile(base.tokenizer, building / "tokenizer.json")

    place_model_folder(target, training, replace, fill)


def place_model_folder(
    target: Path, training: dict, replace: bool, fill: Callable[[Path], None]
) -> None:
    """Build the folder beside `target` (`fill` writes the model files; then TRAINING.json, the
    card, the manifest), load it once, and rename it into place."""
    remove_left_folders(target, ("building", "old"), FOLDER_FILES)
    building = Path(tempfile.mkdtemp(prefix=f".{target.name}.building-", dir=target.parent))
    try:
        fill(building)
        (building / TRAINING_FILE).write_text(json.dumps(training, indent=2) + "\n", "utf-8")
        (building / "MODEL_CARD.md").write_text(model_card(target.name, training), "utf-8")
        write_manifest(building)
        SentimentModel(building, languages="any", threads=1)  # its probes: it loads and scores
        if target.exists() and replace:
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
            target.rename(old / target.name)
            building.rename(target)
            shutil.rmtree(old)
        else:
            building.rename(target)
        as_umask_makes(target, folder=True)  # mkdtemp made it private; a model folder is not
    finally:
        if building.exists():
            shutil.rmtree(building)


def model_card(name: str, training: dict) -> str:
    """The card of a trained model: what it learned from, how, and what it scores on rows it
    never saw."""
    rows, figures = training["rows"], training["holdout_figures"]
    classes = ", ".join(f"`{k}` {v:,}" for k, v in rows["per_class"].items())
    command = training.get("command") or "sentiment_udf.train(...) from Python"
    fitted = "fitted on" if training["mode"] == "head" else "trained on"
    return f"""# {name}

{_how(training)}

- Labels: {", ".join(f"`{label}`" for label in training["labels"])}
- Rows used: {sum(rows["per_class"].values()):,} ({classes}); {rows["skipped"]:,} skipped (NULL
  or blank text or label)
- Split by a hash of the text within each class: {rows["fit"]:,} {fitted}, {rows["validation"]:,}
  validation, {rows["holdout"]:,} held out ({training["holdout_share"]:.0%})
- Text column `{training["columns"]["text"]}`, label column `{training["columns"]["label"]}`
  {f"pair column `{training['columns']['pair']}`" if training["columns"]["pair"] else ""}
- Tokens read per text: at most {training["max_length"]}

## Held-out figures (rows never fitted on)

| accuracy | macro-F1 | calibration error (ECE, 10 bins) | log loss |
|---|---|---|---|
| {figures["accuracy"]:.4f} | {figures["macro_f1"]:.4f} | {figures["calibration_error"]:.4f} | {figures["log_loss"]:.4f} |

## How it was made

```
{command}
```

Took {training["seconds"]:.0f} s. The base model's card, licence and terms apply to this model
too; so do the terms of the rows it was trained on.
"""


def _how(training: dict) -> str:
    if training["mode"] == "head":
        head = training["head"]
        return f"""A classifier trained with `sentiment-udf train` on the user's labelled rows: the encoder of
`{training["base"]}` (frozen) with a new last layer fitted on its features (numpy, softmax
regression with L2 strength {head["strength"]:g} chosen on the validation rows,
probabilities calibrated by temperature {head["temperature"]:.3g})."""
    plan = training["fine_tune"]
    return f"""A classifier trained with `sentiment-udf train --fine-tune` on the user's labelled rows: the
checkpoint `{training["base"]}` fine-tuned whole with torch (its encoder at learning rate
{plan["learning_rate"]:g}, a new last layer at {plan["head_rate"]:g}; {plan["epochs"]} epochs, the
best epoch on the validation rows kept: epoch {plan["best_epoch"]}), exported to ONNX with int8
weights."""
