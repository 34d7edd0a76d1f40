"""Image classification: an image in, one of C classes out."""

from shendu.tasks.base import SupervisedTask
from shendu.tasks.registry import TASKS


@TASKS.register("image-classification", summary="Assign each image one of C classes (cross-entropy on logits).",
                formula="p = softmax(f(x)); loss = -mean(log p[y]); prediction = argmax p",
                reference="LeCun et al. 1998, Gradient-based learning applied to document recognition", inputs=("image",))
def image_classification() -> SupervisedTask:
    """Assign each image one of C classes.

    Data: MNIST, scikit-learn's digits, or a folder with one subfolder per class.
    Default model: ``cnn`` (conv-pool-conv-pool-dense); default loss:
    ``cross-entropy``; metrics: accuracy, macro precision/recall/F1 and the
    confusion matrix. A prediction is a label with its softmax probability.
    """
    return SupervisedTask(
        name="image-classification", target_kind="classification", input_kinds=("image",),
        default_models={"image": {"name": "cnn"}}, default_loss={"name": "cross-entropy"},
    )
