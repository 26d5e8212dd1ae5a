"""Distillation: a student trains against a teacher checkpoint's soft predictions."""
import pytest
import torch

from ml.models import Preprocessing, create_model
from ml.train import ConfigError, TrainConfig, fit, save_checkpoint
from ml.train.checkpoint import checkpoint_payload
from ml.train.config import DistillConfig
from ml.train.distill import Distiller


def teacher_checkpoint(path, class_names, preprocessing=None):
    teacher = create_model("ferlite", num_classes=len(class_names), width=8)
    if preprocessing is not None:  # claim another input than the architecture's own
        teacher.preprocessing = preprocessing
    return save_checkpoint(checkpoint_payload(teacher, name="ferlite", options={"width": 8}, class_names=class_names), path)


def test_a_student_that_agrees_with_its_teacher_pays_only_the_label_term(tmp_path, synthetic_store):
    path = teacher_checkpoint(tmp_path / "teacher.pt", synthetic_store.class_names)
    distiller = Distiller(DistillConfig(str(path), alpha=0.25), Preprocessing(48), synthetic_store.class_names, "cpu")
    images = torch.randn(4, 1, 48, 48)
    same_logits = distiller.teacher(images)
    hard = torch.tensor(2.0)
    assert distiller.loss(images, same_logits, hard).item() == pytest.approx(0.75 * 2.0, abs=1e-5)
    confident_elsewhere = torch.tensor([[20.0, -20, 0, 0, 0, 0, 0]]).repeat(4, 1)  # the teacher is near uniform
    assert distiller.loss(images, confident_elsewhere, hard).item() > 1.5 + 1.0


def test_a_teacher_expecting_other_input_is_refused(tmp_path, synthetic_store):
    path = teacher_checkpoint(tmp_path / "teacher.pt", synthetic_store.class_names, Preprocessing(64, (0.0,), (1.0,)))
    with pytest.raises(ConfigError) as error:
        Distiller(DistillConfig(str(path)), Preprocessing(48), synthetic_store.class_names, "cpu")
    assert error.value.key == "distill.teacher_checkpoint"


def test_fit_trains_a_student_from_a_teacher(tmp_path, synthetic_store):
    path = teacher_checkpoint(tmp_path / "teacher.pt", synthetic_store.class_names)
    config = TrainConfig.from_dict({
        "model": {"name": "ferlite", "options": {"width": 8}}, "epochs": 1, "batch_size": 8, "num_workers": 0,
        "device": "cpu", "distill": {"teacher_checkpoint": str(path), "alpha": 0.7, "temperature": 2.0},
    })
    result = fit(config, synthetic_store, tmp_path / "student", log=lambda line: None)
    assert result.stop_reason == "completed" and result.best_checkpoint.exists()


def test_a_calibrated_teacher_teaches_in_int8_on_the_cpu_and_agrees_with_its_float_copy(tmp_path, synthetic_store):
    from ml.inference.quantize import calibration_faces, calibration_payload, int8_available

    if not int8_available():
        pytest.skip("this torch has no x86 int8 engine")
    path = teacher_checkpoint(tmp_path / "teacher.pt", synthetic_store.class_names)
    float_teacher = Distiller(DistillConfig(str(path)), Preprocessing(48), synthetic_store.class_names, "cpu").teacher
    checkpoint = torch.load(path, weights_only=True)
    checkpoint["int8_calibration"] = calibration_payload(calibration_faces(*synthetic_store.split("train"), count=28))
    torch.save(checkpoint, path)

    teacher = Distiller(DistillConfig(str(path)), Preprocessing(48), synthetic_store.class_names, "cpu").teacher
    # the int8 convolutions, not the float model
    assert any(".quantized" in type(module).__module__ for module in teacher.modules())
    images = torch.from_numpy(synthetic_store.split("public_test")[0][:16]).float().div(255).sub(0.5).div(0.5)
    images = images.unsqueeze(1)
    with torch.no_grad():
        served, trained = teacher(images).softmax(dim=1), float_teacher(images).softmax(dim=1)
    assert (served - trained).abs().max().item() < 0.1
