import pytest

from infer_bench.errors import InferBenchError
from infer_bench.models import MODELS, get_spec

# Output shapes from the report's model summaries, layer by layer (batch dim omitted).
EXPECTED = {
    "simple_cnn": [(26, 26, 32), (13, 13, 32), (11, 11, 64), (5, 5, 64), (1600,), (128,), (10,)],
    "alexnet_fashion": [(12, 12, 96), (12, 12, 96), (5, 5, 96), (5, 5, 256), (5, 5, 256), (2, 2, 256),
                        (2, 2, 384), (2, 2, 384), (2, 2, 256), (1, 1, 256), (256,), (4096,), (4096,),
                        (4096,), (4096,), (10,)],
    "alexnet_catsdogs": [(54, 54, 96), (54, 54, 96), (26, 26, 96), (22, 22, 256), (22, 22, 256),
                         (10, 10, 256), (8, 8, 384), (6, 6, 384), (4, 4, 256), (1, 1, 256), (256,),
                         (4096,), (4096,), (4096,), (4096,), (1,)],
}
PARAMS = {"simple_cnn": 225_034, "alexnet_fashion": 21_197_898, "alexnet_catsdogs": 21_586_689}


@pytest.mark.parametrize("name", list(MODELS))
def test_layer_shapes_match_the_report(name):
    model = MODELS[name].build()
    assert [tuple(layer.output.shape[1:]) for layer in model.layers] == EXPECTED[name]
    assert model.count_params() == PARAMS[name] == MODELS[name].parameters


def test_unknown_model_lists_the_valid_ones():
    with pytest.raises(InferBenchError, match="alexnet_catsdogs, alexnet_fashion, simple_cnn"):
        get_spec("resnet")
