"""The dataset loaders; importing this package registers every one of them."""

from benchmark.data.loaders import arrays, cifar, fashion_mnist, folders  # noqa: F401
