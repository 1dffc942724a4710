"""The MapReduce jobs: MRJob classes only (one job per module).

They import nothing above the pure layer (parsing, kernels, codec), so Hadoop
streaming can run each module file as a task with only the ``mrlinreg`` zip on
its path.
"""
