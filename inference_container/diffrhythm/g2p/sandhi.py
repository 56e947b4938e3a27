"""Upstream's word rules for Mandarin, on tone-numbered pinyin: how jieba's words are regrouped around 一, 不 and 儿,
and how tones change in a word (third tone, 不, 一, 儿).

A word's readings are one item per character: a syllable such as ``"bu4"`` (tone 0 or 5 is neutral) or, for a
character that is not Han (punctuation), the character itself. Upstream works on bopomofo with tone marks; the rules
here are the same rules on tone digits, including where upstream's results are not textbook Mandarin (each such place
says so), because the DiT learnt the tokens upstream produces.
"""

from __future__ import annotations

_YI_NUMERALS = set("零一二三四五六七八九十")  # after a leading 一, these keep it a plain digit (yi1)
_YI_STOPS = set("：，；。？！“”‘’':,;.?!()（）{}【】[]-~`、 ")  # 一 before one of these keeps its tone
_NOT_ERHUA = {"女儿", "老儿", "男儿", "少儿", "小儿"}  # 儿 is a syllable of its own here, not a suffix


def regroup(words: list[str]) -> list[str]:
    """jieba's words regrouped as upstream does before reading them: ``X一X`` and ``一`` + the next word, ``不`` + the
    next word, the word before + ``儿``.

    Upstream drops a ``不`` that no word follows (the last word of a run, or the first of ``不不``), and joins only the
    first ``X一X`` of a run into one word; both are kept here, for the same tokens.

    Example
    -------
    >>> regroup(["看", "一", "看", "不", "好", "一", "个", "人", "儿"])
    ['看一看', '不好', '一个', '人儿']
    """
    return _join_er(_join_bu(_join_yi(words)))


def _join_yi(words: list[str]) -> list[str]:
    joined: list[str] = []
    for i, word in enumerate(words):
        between_twins = word == "一" and 0 < i < len(words) - 1 and words[i - 1] == words[i + 1]
        if between_twins and i - 1 < len(joined):  # true only while nothing was joined or skipped before
            joined[i - 1] = joined[i - 1] + "一" + joined[i - 1]
        elif between_twins:
            joined += [word, words[i + 1]]
        elif not (i >= 2 and words[i - 1] == "一" and words[i - 2] == word):  # the second twin, already placed
            joined.append(word)
    regrouped: list[str] = []
    for word in joined:
        if regrouped and regrouped[-1] == "一":
            regrouped[-1] += word
        else:
            regrouped.append(word)
    return regrouped


def _join_bu(words: list[str]) -> list[str]:
    joined: list[str] = []
    pending = False
    for word in words:
        if word == "不":
            pending = True
            continue
        joined.append("不" + word if pending else word)
        pending = False
    return joined


def _join_er(words: list[str]) -> list[str]:
    joined: list[str] = []
    for word in words:
        if word == "儿" and joined:
            joined[-1] += word
        else:
            joined.append(word)
    return joined


def tone(item: str) -> str | None:
    """A reading's tone digit (``"5"`` and ``"0"`` are neutral), None for a character that is not a syllable."""
    return item[-1] if len(item) > 1 and item[-1] in "012345" else None


def _retone(items: list[str], index: int, digit: str) -> None:
    if 0 <= index < len(items) and tone(items[index]) is not None:
        items[index] = items[index][:-1] + digit


def apply(word: str, items: list[str]) -> list[str]:
    """The readings of ``word`` after upstream's tone changes (a new list).

    Example
    -------
    >>> apply("你好", ["ni3", "hao3"]), apply("不是", ["bu4", "shi4"]), apply("一天", ["yi1", "tian1"])
    (['ni2', 'hao3'], ['bu2', 'shi4'], ['yi4', 'tian1'])
    """
    items = list(items)
    tones = [tone(item) for item in items]
    # Third tone before third tone rises. Upstream marks the first two syllables of a three-syllable 3-3-3 word
    # with an extra rising mark that is no phone of the vocabulary, so such words keep their tones.
    if len(word) == 2 and tones and tones[0] == tones[-1] == "3":
        _retone(items, 0, "2")
    _bu(word, items)
    _yi(word, items)
    if len(word) > 1 and word.endswith("儿") and word not in _NOT_ERHUA:
        _retone(items, len(items) - 1, "5")
    return items


def _bu(word: str, items: list[str]) -> None:
    if set(word) == {"不"} or word == "不字":
        return
    if len(word) == 3 and word[1] == "不" and len(items) > 1 and items[1][:-1] == "bu" and tone(items[1]) != "1":
        _retone(items, 1, "5")  # 来不及, 对不起: a neutral 不 between two syllables
        return
    for i, char in enumerate(word):
        if char == "不" and i + 1 < min(len(items), len(word)) and tone(items[i + 1]) == "4":
            _retone(items, i, "2")


def _yi(word: str, items: list[str]) -> None:
    if "一" in word and any(char.isnumeric() for char in word if char != "一"):  # a number: 一 is a digit
        for i, char in enumerate(word):
            if i == 0 and char == "一" and len(word) > 1 and word[1] not in _YI_NUMERALS:  # 一百, 一万
                _retone(items, 0, "2" if len(items) > 1 and tone(items[1]) in ("4", "5", "0") else "4")
            elif char == "一":
                _retone(items, i, "1")
    elif len(word) == 3 and word[1] == "一" and word[0] == word[2]:  # 看一看
        _retone(items, 1, "5")
    elif word.startswith("第一"):
        _retone(items, 1, "1")
    elif word.startswith(("一月", "一日", "一号")):
        _retone(items, 0, "1")
    else:
        for i, char in enumerate(word[:-1]):
            if char != "一":
                continue
            if i + 1 < len(items) and tone(items[i + 1]) == "4":
                _retone(items, i, "2")
            elif word[i + 1] not in _YI_STOPS:
                _retone(items, i, "4")
