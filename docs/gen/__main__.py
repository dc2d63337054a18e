"""``python -m docs.gen``: write every generated reference page (``make docs-references``)."""

from __future__ import annotations

from docs.gen import ROOT, references


def main() -> None:
    for path, render in references().items():
        text = render()
        if path.exists() and path.read_text(encoding="utf-8") == text:
            print(f"unchanged {path.relative_to(ROOT)}")
            continue
        path.write_text(text, encoding="utf-8")
        print(f"wrote     {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
