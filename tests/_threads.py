"""Run one model from several threads at once (tests of shared modules and workspaces)."""

import threading


def run_threads(model, inputs, repeats=20):
    """``model(inputs[i])`` ``repeats`` times in thread i, all threads started together.

    Returns each thread's list of results; any exception in a thread fails the caller.
    """
    results = [None] * len(inputs)
    errors = []
    barrier = threading.Barrier(len(inputs))

    def work(i):
        try:
            barrier.wait()
            results[i] = [model(inputs[i]) for _ in range(repeats)]
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(inputs))]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors
    return results
