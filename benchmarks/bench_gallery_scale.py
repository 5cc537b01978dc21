"""Time exact gallery search over 1,000,000 face vectors, and its memory.

    .venv/bin/python benchmarks/bench_gallery_scale.py            # figures
    .venv/bin/python benchmarks/bench_gallery_scale.py --compare  # choices

The gallery contains 1,000,000 random unit vectors of 128 float32 values. Half
of the queries are stored vectors with a little noise added, so the right
answer is near the top; the others are random. Each query runs through
services.faces.Gallery.search (k=10) and through the reference, one
numpy matrix-vector product over a single float32 matrix followed by
argpartition, which is what Gallery.search did before it had an index. Each
is timed over all queries in turn, because OpenBLAS threads keep spinning for
a while after a product and slow whatever runs next. Every result of the
gallery is then checked against the reference's.

Memory is what tracemalloc counts for the gallery with its ids, plus the
float16 index that faiss allocates outside Python's view, against the size of
the same vectors as a float64 matrix. MB is 10**6 bytes. Each figure is
printed as one line: "bench: NAME VALUE UNIT reference: REFNAME VALUE UNIT".
Notes on the method and the resident memory go to standard error.
"""

import argparse
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from services import faces  # noqa: E402

SIZE = 1_000_000
QUERIES = 60
K = 10
MB = 1_000_000


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=SIZE, help="number of vectors")
    parser.add_argument(
        "--compare",
        action="store_true",
        help="also time thread counts, BLAS thread limits and faiss when present",
    )
    arguments = parser.parse_args()
    size = arguments.size
    label = "1m" if size == SIZE else str(size)

    vectors = random_unit_vectors(size, seed=3)
    load_faiss()
    rss_before = resident_bytes()
    gallery, gallery_bytes = build_gallery(vectors)
    rss_growth = resident_bytes() - rss_before
    queries = make_queries(vectors, QUERIES)
    method = "float16 index and float32 rescoring" if gallery.indexed else "float32"
    print(f"note: gallery search method: {method}", file=sys.stderr)

    ours, reference, mismatches = time_against_reference(gallery, vectors, queries)
    if mismatches:
        sys.exit(f"{mismatches} of {len(queries)} searches differ from brute force")
    print(
        f"bench: gallery_search_{label} {ours:.1f} ms "
        f"reference: numpy_bruteforce_{label} {reference:.1f} ms"
    )
    float64_bytes = size * faces.VECTOR_SIZE * 8
    print(
        f"bench: gallery_memory_{label} {gallery_bytes / MB:.0f} MB "
        f"reference: float64_matrix_{label} {float64_bytes / MB:.0f} MB"
    )
    print(
        f"note: resident memory grew by {rss_growth / MB:.0f} MB building it",
        file=sys.stderr,
    )
    if arguments.compare:
        compare(vectors, queries)


def random_unit_vectors(count, seed):
    """Return `count` random unit vectors, made in parts to bound memory."""
    rng = np.random.default_rng(seed)
    vectors = np.empty((count, faces.VECTOR_SIZE), dtype=np.float32)
    for start in range(0, count, 100_000):
        part = vectors[start : start + 100_000]
        part[:] = rng.standard_normal(part.shape, dtype=np.float32)
        part /= np.linalg.norm(part, axis=1, keepdims=True)
    return vectors


def build_gallery(vectors, **options):
    """Return a gallery of `vectors` with integer ids, and its bytes: what
    tracemalloc counts (blocks, id list and id objects) and the index."""
    tracemalloc.start()
    gallery = faces.Gallery(range(len(vectors)), vectors, **options)
    python_bytes, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return gallery, python_bytes + gallery.index_nbytes


def load_faiss():
    """Import faiss when it is installed, so that loading the library does not
    count as the gallery's memory."""
    try:
        import faiss  # noqa: F401
    except ImportError:
        pass


def resident_bytes():
    """Return this process's resident set size, from /proc (Linux only)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def make_queries(vectors, count):
    rng = np.random.default_rng(4)
    near = vectors[rng.integers(0, len(vectors), count // 2)]
    near = near + rng.normal(0, 0.03, near.shape).astype(np.float32)
    far = rng.standard_normal((count - len(near), faces.VECTOR_SIZE))
    queries = np.vstack([near, far]).astype(np.float32)
    return queries / np.linalg.norm(queries, axis=1, keepdims=True)


def brute_force(vectors, query, k=K):
    similarities = vectors @ query
    top = np.argpartition(similarities, len(similarities) - k)[-k:]
    top = top[np.argsort(-similarities[top], kind="stable")]
    return [(int(index), float(similarities[index])) for index in top]


def time_against_reference(gallery, vectors, queries):
    """Return the median ms of the gallery and of brute force, and the number
    of queries whose results differ."""
    ours = median_ms(lambda query: gallery.search(query, K), queries)
    reference = median_ms(lambda query: brute_force(vectors, query), queries)
    mismatches = 0
    for query in queries:
        found = [index for index, _ in gallery.search(query, K)]
        expected = [index for index, _ in brute_force(vectors, query)]
        mismatches += found != expected
    return ours, reference, mismatches


def median_ms(search, queries):
    """Return the median ms of `search` over the queries, after one warm-up."""
    search(queries[0])
    seconds = []
    for query in queries:
        start = time.perf_counter()
        search(query)
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds) * 1000


def compare(vectors, queries):
    """Print the median search time of each way considered."""
    ids = range(len(vectors))
    ways = {
        "gallery, float16 index": faces.Gallery(ids, vectors).search,
        "gallery, float32 only": faces.Gallery(ids, vectors, use_index=False).search,
        "numpy brute force": lambda query: brute_force(vectors, query),
    }
    for name, search in ways.items():
        print(f"compare: {name} {median_ms(search, queries):.1f} ms")

    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        print("compare: threadpoolctl is not installed, BLAS threads not varied")
    else:
        for blas_threads in (1, 2):
            with threadpool_limits(limits=blas_threads, user_api="blas"):
                for name, search in ways.items():
                    ms = median_ms(search, queries)
                    print(f"compare: BLAS {blas_threads} thread(s), {name} {ms:.1f} ms")

    try:
        import faiss
    except ImportError:
        print("compare: faiss is not installed")
    else:
        index = faiss.IndexFlatIP(faces.VECTOR_SIZE)
        index.add(vectors)
        ms = median_ms(lambda query: index.search(query[np.newaxis], K), queries)
        print(f"compare: faiss {faiss.__version__} IndexFlatIP {ms:.1f} ms")


if __name__ == "__main__":
    main()
