"""Count words: the smallest streaming job that needs a mapper, a shuffle and a reducer.

Its first import is mrlinreg.compat, as every job module's must be: under ``-r local``,
``-r spark`` and on YARN mrjob runs this file again as ``python <file> --mapper ...``, a new
interpreter that imports mrjob at the top of this module (Python 3.12/3.13).
"""
import mrlinreg.compat  # noqa: F401  (before any mrjob import)
import re

from mrjob.job import MRJob
from mrjob.step import MRStep

WORD_RE = re.compile(r"[\w']+")


class MRWordCount(MRJob):

    def mapper_get_words(self, _, line):
        for word in WORD_RE.findall(line):
            yield word.lower(), 1

    def reducer_count_words(self, word, counts):
        yield word, sum(counts)

    def steps(self):
        return [MRStep(mapper=self.mapper_get_words, reducer=self.reducer_count_words)]


if __name__ == "__main__":
    MRWordCount.run()
