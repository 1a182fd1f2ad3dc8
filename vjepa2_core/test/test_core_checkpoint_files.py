"""Hostile and close-miss inputs to checkpoint loading: special files, bad JSON values, malicious pickles,
training-run paths, and the messages ``vjepa2-convert`` prints for them (issue 14, items 7, 15 and 16)."""

from __future__ import annotations

import json
import os
import pickle
import re
import shutil
import tempfile
import threading
import traceback
from pathlib import Path

import pytest
import torch

from vjepa2_core import convert
from vjepa2_core.checkpoint import CheckpointError, load_encoder, load_predictor, save_pretrained
from vjepa2_core.files import FileCheckError, check_readable_file
from vjepa2_core.models import EncoderConfig, MaskPredictor, PredictorConfig, VisionEncoder

ENC = EncoderConfig(embed_dim=64, depth=2, num_heads=4, img_size=32)
PRED = PredictorConfig(enc_embed_dim=64, embed_dim=32, depth=2, num_heads=4, num_mask_tokens=3, img_size=32)
TORCH_ADVICE = ("weights_only", "will likely succeed", "arbitrary code execution")


def _load_in_thread(fn, path, timeout_s: float = 60.0) -> BaseException | None:
    """Run ``fn(path)``; fail the test if it is still blocked after ``timeout_s`` (then unblock it)."""
    result: list[BaseException | None] = []

    def target() -> None:
        try:
            fn(path)
            result.append(None)
        except BaseException as e:
            result.append(e)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))  # a writer end releases a reader blocked in open()
        thread.join(10)
        pytest.fail(f"loading {path} blocked for more than {timeout_s} s")
    return result[0]


def test_fifo_in_place_of_a_checkpoint_fails_fast(tmp_path):
    fifo = tmp_path / "vitl.pt"
    os.mkfifo(fifo)
    err = _load_in_thread(load_encoder, fifo)
    assert isinstance(err, CheckpointError) and "named pipe (FIFO)" in str(err) and "regular file" in str(err)
    # the weights file of our format, replaced by a FIFO
    save_pretrained(VisionEncoder(ENC), tmp_path / "enc")
    (tmp_path / "enc" / "model.safetensors").unlink()
    os.mkfifo(tmp_path / "enc" / "model.safetensors")
    err = _load_in_thread(load_encoder, tmp_path / "enc" / "model.safetensors")
    assert isinstance(err, CheckpointError)
    err = _load_in_thread(load_encoder, tmp_path / "enc")
    assert isinstance(err, CheckpointError) and "named pipe" in str(err)


def test_check_readable_file_messages(tmp_path):
    with pytest.raises(FileCheckError, match=r"^checkpoint .*absent\.pt: no such file$"):
        check_readable_file(tmp_path / "absent.pt", what="checkpoint")
    with pytest.raises(FileCheckError, match="is a directory, expected a regular file"):
        check_readable_file(tmp_path, what="config JSON")
    big = tmp_path / "big.json"
    big.write_text("x" * 100)
    with pytest.raises(FileCheckError, match="is 100 bytes, more than the 10 allowed"):
        check_readable_file(big, what="config JSON", max_bytes=10)
    assert check_readable_file(big, what="config JSON", max_bytes=100) == big
    with pytest.raises(FileCheckError, match="is a device"):
        check_readable_file("/dev/null", what="checkpoint")


def test_unreadable_file_is_named(tmp_path):
    if os.geteuid() == 0:  # the unprivileged child below must reach the file: use a world-searchable folder
        tmp_path = Path(tempfile.mkdtemp(dir="/tmp", prefix="vjepa2-unreadable-"))
        tmp_path.chmod(0o755)
    try:
        _check_unreadable(tmp_path)
    finally:
        if os.geteuid() == 0:
            shutil.rmtree(tmp_path)


def _check_unreadable(tmp_path: Path) -> None:
    secret = tmp_path / "secret.pt"
    torch.save({"encoder": VisionEncoder(ENC).state_dict()}, secret)
    secret.chmod(0)
    if os.geteuid() != 0:
        with pytest.raises(FileCheckError, match="cannot be opened for reading"):
            check_readable_file(secret, what="checkpoint")
        return
    # root reads anything: check as an unprivileged user in a forked child
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: no pytest machinery, report through the pipe
        message = b"no error"
        try:
            os.setgid(65534)
            os.setuid(65534)
            check_readable_file(secret, what="checkpoint")
        except FileCheckError as e:
            message = str(e).encode()
        except BaseException as e:
            message = repr(e).encode()
        os.write(write_end, message)
        os._exit(0)
    os.close(write_end)
    os.waitpid(pid, 0)
    with os.fdopen(read_end, "rb") as f:
        message = f.read().decode()
    assert "secret.pt: cannot be opened for reading (Permission denied)" in message


def test_wrong_json_value_type_is_named(tmp_path):
    save_pretrained(VisionEncoder(ENC), tmp_path / "enc")
    doc_path = tmp_path / "enc" / "vjepa2_config.json"
    doc = json.loads(doc_path.read_text())
    doc["components"]["encoder"]["config"]["embed_dim"] = "wide"
    doc_path.write_text(json.dumps(doc))
    with pytest.raises(CheckpointError, match=r"component 'encoder': embed_dim = 'wide' \(str\): expected int"):
        load_encoder(tmp_path / "enc")
    doc["components"]["encoder"]["config"]["embed_dim"] = 64
    doc["components"]["encoder"]["config"]["widht"] = 3
    doc_path.write_text(json.dumps(doc))
    with pytest.raises(CheckpointError, match=r"unknown key\(s\) 'widht'"):
        load_encoder(tmp_path / "enc")


class _RunsCommand:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _assert_no_torch_advice(err: BaseException) -> None:
    text = "".join(traceback.format_exception(err))
    for phrase in TORCH_ADVICE:
        assert phrase not in text, text


def test_malicious_and_garbage_pt_files(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "latest.pt"
    with open(evil, "wb") as f:
        pickle.dump({"encoder": _RunsCommand(str(marker))}, f, protocol=2)
    with pytest.raises(CheckpointError, match="never unpickled") as info:
        load_encoder(evil)
    assert "system" in str(info.value) and not marker.exists()
    _assert_no_torch_advice(info.value)
    torch.save({"encoder": _RunsCommand(str(marker))}, tmp_path / "evil_zip.pt")
    with pytest.raises(CheckpointError, match="never unpickled") as info:
        load_encoder(tmp_path / "evil_zip.pt")
    _assert_no_torch_advice(info.value)
    rng = torch.Generator().manual_seed(0)
    for name, head in (("random.pt", b"\x80"), ("random_zip.pt", b"PK\x03\x04")):
        (tmp_path / name).write_bytes(head + bytes(torch.randint(0, 256, (4000,), generator=rng).tolist()))
        with pytest.raises(CheckpointError, match="not a readable torch checkpoint") as info:
            load_encoder(tmp_path / name)
        _assert_no_torch_advice(info.value)
    assert not marker.exists()


def test_load_inside_inference_mode_gives_ordinary_parameters(tmp_path):
    """Loading inside inference_mode used to give inference-tensor parameters: untrainable, and matmul takes
    another (unfolded) kernel path for them, so outputs differed in the last bit from the original model."""
    enc = VisionEncoder(ENC)
    torch.save({"encoder": enc.state_dict()}, tmp_path / "enc.pt")
    with torch.inference_mode():
        loaded = load_encoder(tmp_path / "enc.pt", num_heads=4)
    assert not any(p.is_inference() for p in loaded.parameters())
    loaded(torch.randn(1, 3, 2, 32, 32)).sum().backward()
    assert loaded.norm.weight.grad is not None


def test_predictor_grid_never_comes_from_the_file_name(tmp_path, caplog):
    pred = MaskPredictor(PRED)
    torch.save({"predictor": pred.state_dict()}, tmp_path / "vitg-384.pt")
    caplog.clear()
    assert load_predictor(tmp_path / "vitg-384.pt", num_heads=4).cfg.img_size == 256
    assert "does not store the training crop of the mask predictor" in caplog.text
    assert load_predictor(tmp_path / "vitg-384.pt", num_heads=4, img_size=384).cfg.img_size == 384


def _training_run(tmp_path):
    """The layout vjepa2_training writes: <run>/checkpoints/latest.pt and <run>/export/NAME.safetensors+json."""
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    enc = VisionEncoder(ENC)
    state = {"kind": "pretrain", "step": 5, "config": {}, "models": {"encoder": enc.state_dict()}}
    torch.save(state, run / "checkpoints" / "latest.pt")
    save_pretrained(enc, run / "export" / "encoder.safetensors")
    return run


def test_training_run_paths_get_a_hint(tmp_path):
    run = _training_run(tmp_path)
    exported = str(run / "export" / "encoder.safetensors")
    for path in (run, run / "checkpoints", run / "export", run / "checkpoints" / "latest.pt"):
        with pytest.raises(CheckpointError, match="pass .*" + re.escape(exported)) as info:
            load_encoder(path)
        assert "found no encoder" not in str(info.value)
    assert "this is a training run" in str(_hint(load_encoder, run))
    assert "resume checkpoint ('pretrain' run, step 5)" in str(_hint(load_encoder, run / "checkpoints" / "latest.pt"))
    (run / "export" / "encoder.safetensors").unlink()
    (run / "export" / "encoder.json").unlink()
    assert "export/encoder.safetensors (or predictor / ac_predictor) (written when the run ends)" in str(
        _hint(load_encoder, run)
    )


def _hint(fn, path) -> CheckpointError:
    with pytest.raises(CheckpointError) as info:
        fn(path)
    return info.value


def test_model_safetensors_alone_says_pass_the_directory(tmp_path):
    save_pretrained(VisionEncoder(ENC), tmp_path / "enc")
    with pytest.raises(CheckpointError, match=f"pass the directory {tmp_path / 'enc'}$"):
        load_encoder(tmp_path / "enc" / "model.safetensors")
    (tmp_path / "loose").mkdir()
    (tmp_path / "enc" / "model.safetensors").rename(tmp_path / "loose" / "model.safetensors")
    with pytest.raises(CheckpointError, match="belongs in a checkpoint directory"):
        load_encoder(tmp_path / "loose" / "model.safetensors")


def test_saved_weights_get_the_mode_of_their_json(tmp_path):
    old = os.umask(0o022)
    try:
        save_pretrained(VisionEncoder(ENC), tmp_path / "pair" / "encoder.safetensors")
        save_pretrained(VisionEncoder(ENC), tmp_path / "dir")
    finally:
        os.umask(old)
    for weights, config in (
        (tmp_path / "pair" / "encoder.safetensors", tmp_path / "pair" / "encoder.json"),
        (tmp_path / "dir" / "model.safetensors", tmp_path / "dir" / "vjepa2_config.json"),
    ):
        assert oct(weights.stat().st_mode & 0o777) == oct(config.stat().st_mode & 0o777) == oct(0o644)


# ----------------------------------------------------------------------------------------------- vjepa2-convert
def test_convert_errors_name_the_cli_flags(tmp_path, capsys):
    torch.save(
        {"encoder": VisionEncoder(ENC).state_dict(), "predictor": MaskPredictor(PRED).state_dict()},
        p := tmp_path / "tiny.pt",
    )
    assert convert.main([str(p), "--inspect"]) == 1
    err = capsys.readouterr().err
    assert "pass --num-heads N" in err and "num_heads=" not in err and "config=" not in err
    assert convert.main([str(p), "--inspect", "--num-heads", "4"]) == 1
    err = capsys.readouterr().err
    assert "pass --predictor-heads N" in err and "num_heads=" not in err
    with pytest.raises(CheckpointError, match=r"pass num_heads=\.\.\."):  # Python callers keep their wording
        load_predictor(p)
    assert convert.main([str(p), "--inspect", "--num-heads", "4", "--predictor-heads", "4", "--img-size", "32"]) == 0
    assert convert.main([str(_training_run(tmp_path)), str(tmp_path / "out")]) == 1
    assert "this is a training run; pass" in capsys.readouterr().err


def test_convert_inspect_fails_where_conversion_would(tmp_path, capsys):
    sd = VisionEncoder(ENC).state_dict()
    sd["norm.weight"] = torch.ones(65)
    torch.save({"encoder": sd}, tmp_path / "bad.pt")
    assert convert.main([str(tmp_path / "bad.pt"), "--inspect", "--num-heads", "4"]) == 1
    captured = capsys.readouterr()
    assert "encoder: encoder from encoder" in captured.out  # the summary is still printed
    assert r"norm.weight: checkpoint [65] vs model [64]" in captured.err and "--num-heads" in captured.err
    assert convert.main([str(tmp_path / "bad.pt"), str(tmp_path / "out"), "--num-heads", "4"]) == 1
    assert not (tmp_path / "out").exists()
