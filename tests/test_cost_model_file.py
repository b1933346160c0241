"""``nas cost --model-file``: a user's own network, saved as an exported program."""

import torch
from click.testing import CliRunner
from torch import nn

from cli import main


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Conv2d(3, 16, 4, stride=4)
        self.block = nn.TransformerEncoderLayer(16, 2, 32, batch_first=True)
        self.head = nn.Linear(16, 5)

    def forward(self, x):
        tokens = self.embed(x).flatten(2).transpose(1, 2)
        return self.head(self.block(tokens).mean(1))


def _run(*args):
    return CliRunner().invoke(main, ["cost", *args])


def test_an_exported_program_is_costed(tmp_path):
    net = Attention().eval()
    batch = torch.export.Dim("batch", min=1, max=64)
    program = torch.export.export(net, (torch.zeros(2, 3, 16, 16),), dynamic_shapes=({0: batch},))
    torch.export.save(program, tmp_path / "net.pt2")
    result = _run("--model-file", str(tmp_path / "net.pt2"), "--hardware", "tpu_v1", "--batch-size", "8")
    assert result.exit_code == 0, result.output
    assert "block.self_attn.qk" in result.output and "head" in result.output


def test_bad_model_files_fail_in_one_line(tmp_path):
    broken = tmp_path / "broken.pt2"
    broken.write_text("not a program")
    result = _run("--model-file", str(broken), "--hardware", "tpu_v1")
    assert result.exit_code == 2 and "cannot read exported program" in result.output
    assert len(result.output.strip().splitlines()) == 1
    both = _run("--model-file", str(broken), "--model", "resnet18", "--hardware", "tpu_v1")
    assert both.exit_code == 2 and "--model-file PATH" in both.output
