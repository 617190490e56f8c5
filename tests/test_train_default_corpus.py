"""The default corpus: dictd markup is stripped to prose, and the installed corpus holds ≥ 20M byte tokens."""

import pytest

from scalinglab.train import default_corpus

ENTRY = """Abuse \\A*buse"\\, v. t. [F. abuser; L. abuti.]
   1. To put to a wrong or improper use; as, to {abuse}
      inherited gold.
      [1913 Webster]

            This principle (if one may so abuse the word) shoots
            rapidly into popularity.              --Froude.
      [1913 Webster]

Hamitic (h[a^]m*[i^]t"[i^]k), a. Spoken in Som[^a]li Land and by the Ab[imac]ssin[imac]ans.
"""


def test_gcide_entry_cleaned_to_plain_prose():
    text = default_corpus.clean_gcide_entry(ENTRY)
    assert text.splitlines() == [
        "Abuse, v. t. [F. abuser; L. abuti.] 1. To put to a wrong or improper use; as, to abuse inherited gold.",
        "This principle (if one may so abuse the word) shoots rapidly into popularity. --Froude.",
        "Hamitic, a. Spoken in Somali Land and by the Abissinians.",
    ]


def test_gcide_index_cuts_entries_and_skips_the_database_header():
    data = b"HEADERabcdefFIRST entryB"
    # dictd index: headword, base64 offset, base64 length (A=0, B=1, ..., G=6, L=11, M=12, S=18)
    index = "00-database-info\tA\tG\nfirst\tM\tL\nalias\tM\tL\nsecond\tSG\tB\n".replace("SG", "X")
    entries = list(default_corpus.gcide_entries(data, index))
    assert entries == ["FIRST entry", "B"]


def test_fortunes_and_wordnet_glosses_split():
    assert list(default_corpus.fortunes("One.\n%\nTwo\n  -- someone\n%\n")) == ["One.", "Two\n  -- someone"]
    line = "00001740 03 n 01 entity 0 003 ~ 00001930 n 0000 | that which is perceived to exist\n"
    assert list(default_corpus.wordnet_glosses("  licence header | not a gloss\n" + line)) == [
        "that which is perceived to exist"]


@pytest.mark.skipif(not default_corpus.GCIDE.exists(), reason="dict-gcide not installed (scripts/setup does it)")
def test_installed_corpus_is_large_enough_for_the_ladders():
    n_bytes = sum(len(doc.encode("utf-8")) + 2 for doc in default_corpus.iter_documents())
    assert n_bytes >= 20_000_000  # byte tokenizer: one token per byte
