"""Models and checkpoints on disk: tensors in safetensors, everything else in JSON. Never pickle.

A model directory holds model.safetensors (the generator's weights and batch-norm statistics) and
model.json (format version, hyperparameters, schema, transformer, ID shapes, calibration). A checkpoint
directory holds checkpoint.safetensors (both networks and the target's model if any, their optimisers' moments,
RNG states) and checkpoint.json; it is enough to continue training exactly where it stopped. Tensors are loaded onto
the CPU first and moved, so a model trained on CUDA loads on a machine without one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from synth.errors import SynthError
from synth.ids import IdSpec
from synth.schema import Schema
from synth.transformer import DataTransformer

FORMAT_VERSION = 1
# Checkpoints have their own version: they hold the critic, whose layout a model does not carry.
# 2: the critic's first layer is two weights (data, conditional one-hots) instead of one.
# 3: the data weight is kept as (inputs, hidden), like the one-hot weight.
CHECKPOINT_VERSION = 3
MODEL_KIND, CHECKPOINT_KIND = "synthd-model", "synthd-checkpoint"
# Settings that files of an earlier synthd carry, each with the one value this synthd still runs ("gumbel": the
# generator trained with Gumbel noise, as every model served by the API was).
RETIRED_SETTINGS = {"gumbel": True}
# Settings added since files were first written, with the value a file that lacks them was trained with.
ADDED_SETTINGS = {"chain": False, "numeric_encoding": "modes", "pair_loss": "off", "average_decay": 0.0,
                  "discriminator_dropout": 0.5, "chain_likelihood": False}


def _spec(model, version: int = FORMAT_VERSION) -> dict:
    return {
        "format_version": version,
        "config": model.config_dict(),
        "column_kinds": model.column_kinds,
        "schema": model.schema.to_dict(),
        "transformer": model.transformer.to_dict(),
        "ids": [spec.to_dict() for spec in model.ids],
        "biases": model.biases,
        "epochs_done": model.epochs_done,
        "history": model.history,
        "trained_on": model.device.type,
        "privacy": model.privacy_spent,  # under differential privacy: the final (epsilon, delta), synth.dp
    }


def save_model(model, path) -> None:
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tensors = {f"generator.{k}": v.detach().cpu().contiguous()
               for k, v in model.sampled_generator.state_dict().items()}
    _write(path, "model", {"kind": MODEL_KIND, **_spec(model)}, tensors)


def save_checkpoint(model, path) -> None:
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tensors = {}
    for prefix, module in _trained_modules(model):
        tensors.update({f"{prefix}.{k}": v.detach().cpu().contiguous() for k, v in module.state_dict().items()})
    groups = {}
    for prefix, opt in _optimizers(model):
        state = opt.state_dict()
        for index, values in state["state"].items():
            for name, value in values.items():
                tensors[f"{prefix}.{index}.{name}"] = torch.as_tensor(value).detach().cpu().contiguous()
        groups[prefix] = state["param_groups"]
    tensors["rng.cpu"] = torch.get_rng_state()
    tensors["rng.gen"] = model._gen.get_state()
    if model.device.type == "cuda":
        tensors["rng.cuda"] = torch.cuda.get_rng_state(model.device)
    spec = {"kind": CHECKPOINT_KIND, **_spec(model, CHECKPOINT_VERSION), "optimizers": groups}
    if model._budget is not None:  # the accountant's state: the rows, the batch and the critic steps taken
        spec["budget"] = {"n_rows": model._budget.n_rows, "batch": model._budget.batch, "steps": model._budget.steps,
                          "pairs": model._budget.pairs}
    _write(path, "checkpoint", spec, tensors)


def _trained_modules(model) -> list:
    """The networks a checkpoint keeps: both GAN networks, and the generator's average, the target's model, the
    chain likelihood's biases and the pair tables (with the generated tables' moving average) where the fit has
    them."""
    out = [("generator", model._generator), ("discriminator", model._discriminator)]
    out += [("average", model._average)] if model._average is not None else []
    out += [("target", model._target_model)] if model._target_model is not None else []
    out += [("chain_likelihood", model._chain_likelihood)] if model._chain_likelihood is not None else []
    return out + ([("pairs", model._pair_loss)] if model._pair_loss is not None else [])


def _optimizers(model) -> list:
    out = [("opt_g", model._opt_g), ("opt_d", model._opt_d)]
    out += [("opt_c", model._opt_c)] if model._opt_c is not None else []
    return out + ([("opt_t", model._opt_t)] if model._opt_t is not None else [])


def _write(path: Path, stem: str, spec: dict, tensors: dict) -> None:
    # Write beside and rename, so a crash never leaves a half-written file under the real name.
    tmp_weights, tmp_spec = path / f".{stem}.safetensors.tmp", path / f".{stem}.json.tmp"
    save_file(tensors, str(tmp_weights))
    tmp_spec.write_text(json.dumps(spec))
    os.replace(tmp_weights, path / f"{stem}.safetensors")
    os.replace(tmp_spec, path / f"{stem}.json")


def _read(path, stem: str, kind: str, version: int = FORMAT_VERSION) -> tuple[dict, dict]:
    path = Path(path)
    spec_file, weights_file = path / f"{stem}.json", path / f"{stem}.safetensors"
    if not spec_file.is_file() or not weights_file.is_file():
        raise SynthError(f"{path} holds no {kind} ({stem}.json and {stem}.safetensors)")
    spec = json.loads(spec_file.read_text())
    if spec.get("kind") != kind:
        raise SynthError(f"{path} is not a {kind}")
    if spec.get("format_version") != version:
        raise SynthError(f"{path} has format version {spec.get('format_version')}; this synthd reads "
                         f"version {version}")
    return spec, load_file(str(weights_file), device="cpu")


def _rebuild(cls, spec: dict, device: str, sample_precision: str = "auto", training: bool = True):
    cfg = dict(spec["config"])
    for name, kept in RETIRED_SETTINGS.items():
        value = cfg.pop(name, kept)
        if value != kept:
            raise SynthError(f"this file was trained with {name}={value!r}, a setting this synthd no longer has; it "
                             f"runs {name}={kept!r} only")
    for name, before in ADDED_SETTINGS.items():
        cfg.setdefault(name, before)
    model = cls(device=device, column_kinds=spec["column_kinds"], sample_precision=sample_precision, **cfg)
    model.schema = Schema.from_dict(spec["schema"])
    model.transformer = DataTransformer.from_dict(spec["transformer"], model.schema)
    model.ids = [IdSpec(**s) for s in spec["ids"]]
    model.biases = spec["biases"]
    model.epochs_done = spec["epochs_done"]
    model.history = spec["history"]
    model.privacy_spent = spec.get("privacy")
    model._gen = torch.Generator(model.device).manual_seed(model.config.seed)
    model._build_networks(training)
    return model


def _sub(tensors: dict, prefix: str, device) -> dict:
    return {k[len(prefix) + 1:]: v.to(device) for k, v in tensors.items() if k.startswith(prefix + ".")}


def load_model(cls, path, device: str = "auto", sample_precision: str = "auto"):
    spec, tensors = _read(path, "model", MODEL_KIND)
    model = _rebuild(cls, spec, device, sample_precision, training=False)  # a saved model samples
    model._generator.load_state_dict(_sub(tensors, "generator", model.device))
    model._generator.eval()
    return model


def load_checkpoint(cls, path, device: str = "auto"):
    spec, tensors = _read(path, "checkpoint", CHECKPOINT_KIND, CHECKPOINT_VERSION)
    model = _rebuild(cls, spec, device)
    for prefix, module in _trained_modules(model):
        module.load_state_dict(_sub(tensors, prefix, model.device))
    for prefix, opt in _optimizers(model):
        state: dict = {}
        for key, value in _sub(tensors, prefix, "cpu").items():
            index, name = key.split(".", 1)
            state.setdefault(int(index), {})[name] = value if name == "step" else value.to(model.device)
        opt.load_state_dict({"state": state, "param_groups": spec["optimizers"][prefix]})
    if spec.get("budget"):
        from synth import dp

        model._budget = dp.Budget(dp.Privacy.of(model.config.privacy), **spec["budget"])
    model._resume_state = {"cpu": tensors["rng.cpu"], "gen": tensors["rng.gen"]}
    if "rng.cuda" in tensors and model.device.type == "cuda":
        model._resume_state["cuda"] = tensors["rng.cuda"]
    return model
