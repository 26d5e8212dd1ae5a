"""What a model expects its input to look like, stored beside its weights so inference matches training."""
from dataclasses import dataclass


@dataclass(frozen=True)
class Preprocessing:
    """A 1-channel [0, 1] image resized to `input_size` and normalised as `(x - mean) / std`."""

    input_size: int
    mean: tuple[float, ...] = (0.5,)
    std: tuple[float, ...] = (0.5,)

    def __post_init__(self):
        # Coerce lists (from YAML, JSON or a checkpoint) so instances stay hashable and compare equal.
        object.__setattr__(self, "input_size", int(self.input_size))
        object.__setattr__(self, "mean", tuple(float(m) for m in self.mean))
        object.__setattr__(self, "std", tuple(float(s) for s in self.std))
        if self.input_size <= 0:
            raise ValueError(f"input_size must be positive, got {self.input_size}")
        if len(self.mean) != len(self.std):
            raise ValueError(f"mean and std differ in length: {self.mean} vs {self.std}")
        if any(s <= 0 for s in self.std):
            raise ValueError(f"std must be positive, got {self.std}")

    def to_dict(self) -> dict:
        # Plain ints, floats and lists only: torch.load(weights_only=True) refuses arbitrary classes.
        return {"input_size": self.input_size, "mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, d: dict) -> "Preprocessing":
        return cls(input_size=d["input_size"], mean=tuple(d["mean"]), std=tuple(d["std"]))
