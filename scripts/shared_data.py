"""Where the shared data sets are: $TIDINGS_SHARED, else shared/ beside the
repository, else /work/shared."""
import os

HERE = os.path.dirname(os.path.abspath(__file__))


def shared(*parts):
    root = os.environ.get("TIDINGS_SHARED")
    if not root:
        beside = os.path.join(HERE, "..", "..", "shared")
        root = beside if os.path.isdir(beside) else "/work/shared"
    return os.path.join(root, *parts)
