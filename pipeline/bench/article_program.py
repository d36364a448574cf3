"""The seed article's program as it was written: plain Keras, plain `fit`, nothing tuned.

    python -m pipeline.bench.article_program [--raw-pixels] [--epochs N]

Kept as the baseline the benchmark measures the pipeline against, whole process against whole
process. Two changes only, both forced: MNIST comes from our offline loader (Keras's download host
is unreachable), and `reshape(-1, 784)` replaces the article's `reshape(1, 784)`, which cannot run.
The article feeds raw 0..255 pixels (`--raw-pixels`); by default they are scaled to 0..1 like the
pipeline's, so the two are compared on the same data.
"""

import argparse
import time

started = time.perf_counter()


def main() -> None:
    """The article's program (run as a script: importing this module trains nothing)."""
    from pipeline.tf_setup import import_tensorflow  # the clock includes the imports

    import_tensorflow()
    import keras
    from keras.layers import Activation, Dense
    from keras.models import Sequential

    from pipeline.data import load_mnist

    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--raw-pixels", action="store_true", help="feed 0..255 as the article's code does")
    parser.add_argument("--epochs", type=int, default=20)
    args = parser.parse_args()

    (x_train2d, y_train), (x_test2d, y_test) = load_mnist()
    x_train = x_train2d.reshape(-1, 784).astype("float32")
    x_test = x_test2d.reshape(-1, 784).astype("float32")
    if not args.raw_pixels:
        x_train, x_test = x_train / 255, x_test / 255
    y_train = keras.utils.to_categorical(y_train, 10)
    y_test = keras.utils.to_categorical(y_test, 10)

    model = Sequential([Dense(units=10, input_dim=784), Activation("softmax")])
    model.compile(loss="categorical_crossentropy", optimizer="sgd", metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=args.epochs, batch_size=32, verbose=0)
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"test accuracy {accuracy:.4f}, loss {loss:.4f}, {time.perf_counter() - started:.1f} s in all")


if __name__ == "__main__":
    main()
