"""synth: the synthesis engine. A DataFrame in, a trained conditional GAN, synthetic DataFrames out."""

from synth.config import Config
from synth.errors import SynthError
from synth.schema import ColumnSpec, Schema, infer_schema
from synth.synthesizer import EpochInfo, Synthesizer

__all__ = ["ColumnSpec", "Config", "EpochInfo", "Schema", "SynthError", "Synthesizer", "infer_schema"]
