//! `BookFilter` (search criteria, ordering, limit and offset) and `Page` (keyset
//! pagination of authors and books).

mod common;

use bookshelf::{
    Author, AuthorId, Book, BookFilter, BookId, BookOrder, Direction, NewAuthor, NewBook, Page,
    MIN_YEAR,
};
use common::{backend_tests, seed, Backend, BoxError, TestDb};

/// Seven books by two authors, inserted so that id, title and year orders all differ.
/// Titles repeat across authors ("Delta") and years repeat, to exercise tie-breaking.
struct Shelf {
    db: TestDb,
    a: AuthorId,
    b: AuthorId,
    /// `ids[n - 1]` is the id of the `n`-th book inserted.
    ids: Vec<BookId>,
}

impl Shelf {
    fn new(backend: Backend) -> Result<Self, BoxError> {
        let db = TestDb::open(backend)?;
        let repo = &db.repo;
        let a = repo.create_author(&NewAuthor::new("Author A"))?.id;
        let b = repo.create_author(&NewAuthor::new("Author B"))?.id;
        let rows = [
            (a, "Delta", Some(1990)),
            (a, "Alpha", None),
            (b, "Charlie", Some(1980)),
            (b, "Bravo", Some(1990)),
            (a, "Echo", None),
            (b, "Delta", Some(1970)),
            (a, "Foxtrot", Some(1980)),
        ];
        let new: Vec<NewBook> = rows
            .iter()
            .map(|&(author, title, year)| {
                let book = NewBook::new(author, title);
                match year {
                    Some(year) => book.published_year(year),
                    None => book,
                }
            })
            .collect();
        let ids = repo
            .create_books(&new)?
            .iter()
            .map(|book| book.id)
            .collect();
        Ok(Self { db, a, b, ids })
    }

    /// The insertion numbers (1-based) of the books `filter` finds, in result order.
    fn find(&self, filter: &BookFilter) -> bookshelf::Result<Vec<usize>> {
        let books = self.db.repo.search_books(filter)?;
        Ok(books
            .iter()
            .map(|book| {
                self.ids
                    .iter()
                    .position(|id| *id == book.id)
                    .map_or(0, |n| n + 1)
            })
            .collect())
    }
}

fn titles(books: &[Book]) -> Vec<&str> {
    books.iter().map(|book| book.title.as_str()).collect()
}

backend_tests! {
    fn empty_filter_returns_every_book_by_id(backend: Backend) -> TestResult {
        let shelf = Shelf::new(backend)?;
        assert_eq!(shelf.find(&BookFilter::new())?, [1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(shelf.find(&BookFilter::default())?, [1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(
            shelf.find(&BookFilter::new().title_contains(""))?,
            [1, 2, 3, 4, 5, 6, 7]
        );
        Ok(())
    }
}

backend_tests! {
    fn title_contains_ignores_case(backend: Backend) -> TestResult {
        let shelf = Shelf::new(backend)?;
        assert_eq!(
            shelf.find(&BookFilter::new().title_contains("delta"))?,
            [1, 6]
        );
        assert_eq!(
            shelf.find(&BookFilter::new().title_contains("DELTA"))?,
            [1, 6]
        );
        assert_eq!(
            shelf.find(&BookFilter::new().title_contains("eLt"))?,
            [1, 6]
        );
        assert_eq!(shelf.find(&BookFilter::new().title_contains("ha"))?, [2, 3]);
        assert!(shelf
            .find(&BookFilter::new().title_contains("zulu"))?
            .is_empty());
        Ok(())
    }
}

backend_tests! {
    fn like_metacharacters_match_literally(backend: Backend) -> TestResult {
        let db = TestDb::open(backend)?;
        let repo = &db.repo;
        let author = repo.create_author(&NewAuthor::new("Metacharacters"))?.id;
        for title in [
            "100% Pure",
            "100 Pure",
            "a_b",
            "axb",
            "ab",
            "back\\slash",
            "backslash",
        ] {
            repo.create_book(&NewBook::new(author, title))?;
        }
        let search = |text: &str| -> bookshelf::Result<Vec<String>> {
            let books = repo.search_books(&BookFilter::new().title_contains(text))?;
            Ok(books.into_iter().map(|book| book.title).collect())
        };
        assert_eq!(search("%")?, ["100% Pure"]);
        assert_eq!(search("0%")?, ["100% Pure"]);
        assert_eq!(search("100% p")?, ["100% Pure"]);
        assert_eq!(search("_")?, ["a_b"]);
        assert_eq!(search("a_b")?, ["a_b"]);
        assert_eq!(search("A_B")?, ["a_b"]);
        assert_eq!(search("\\")?, ["back\\slash"]);
        assert_eq!(search("k\\s")?, ["back\\slash"]);
        assert_eq!(search("\\\\")?, Vec::<String>::new());
        assert_eq!(search("100 ")?, ["100 Pure"]);
        assert_eq!(search("slash")?, ["back\\slash", "backslash"]);
        Ok(())
    }
}

backend_tests! {
    fn author_filter_keeps_only_their_books(backend: Backend) -> TestResult {
        let shelf = Shelf::new(backend)?;
        assert_eq!(
            shelf.find(&BookFilter::new().author(shelf.a))?,
            [1, 2, 5, 7]
        );
        assert_eq!(shelf.find(&BookFilter::new().author(shelf.b))?, [3, 4, 6]);
        assert!(shelf
            .find(&BookFilter::new().author(AuthorId(i64::MAX)))?
            .is_empty());
        Ok(())
    }
}

backend_tests! {
    fn year_bounds_are_inclusive_and_skip_books_without_a_year(backend: Backend) -> TestResult {
        let shelf = Shelf::new(backend)?;
        assert_eq!(
            shelf.find(&BookFilter::new().year_from(1980))?,
            [1, 3, 4, 7]
        );
        assert_eq!(shelf.find(&BookFilter::new().year_to(1980))?, [3, 6, 7]);
        let exactly = BookFilter::new().year_from(1980).year_to(1980);
        assert_eq!(shelf.find(&exactly)?, [3, 7]);
        assert_eq!(
            shelf.find(&BookFilter::new().year_from(MIN_YEAR))?,
            [1, 3, 4, 6, 7]
        );
        assert_eq!(
            shelf.find(&BookFilter::new().year_to(9999))?,
            [1, 3, 4, 6, 7]
        );
        assert!(shelf.find(&BookFilter::new().year_from(1991))?.is_empty());
        let inverted = BookFilter::new().year_from(1990).year_to(1970);
        assert!(shelf.find(&inverted)?.is_empty());
        Ok(())
    }
}

backend_tests! {
    fn order_by_id(backend: Backend) -> TestResult {
        let shelf = Shelf::new(backend)?;
        let asc = BookFilter::new().order_by(BookOrder::Id, Direction::Ascending);
        let desc = BookFilter::new().order_by(BookOrder::Id, Direction::Descending);
        assert_eq!(shelf.find(&asc)?, [1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(shelf.find(&desc)?, [7, 6, 5, 4, 3, 2, 1]);
        Ok(())
    }
}

backend_tests! {
    fn order_by_title_breaks_ties_by_id(backend: Backend) -> TestResult {
        let shelf = Shelf::new(backend)?;
        let asc = BookFilter::new().order_by(BookOrder::Title, Direction::Ascending);
        let desc = BookFilter::new().order_by(BookOrder::Title, Direction::Descending);
        // The two "Delta"s (1 and 6) tie on title.
        assert_eq!(shelf.find(&asc)?, [2, 4, 3, 1, 6, 5, 7]);
        assert_eq!(shelf.find(&desc)?, [7, 5, 6, 1, 3, 4, 2]);
        Ok(())
    }
}

backend_tests! {
    fn order_by_year_puts_books_without_a_year_last(backend: Backend) -> TestResult {
        let shelf = Shelf::new(backend)?;
        let asc = BookFilter::new().order_by(BookOrder::PublishedYear, Direction::Ascending);
        let desc = BookFilter::new().order_by(BookOrder::PublishedYear, Direction::Descending);
        // 1980 (3, 7) and 1990 (1, 4) tie; 2 and 5 have no year.
        assert_eq!(shelf.find(&asc)?, [6, 3, 7, 1, 4, 2, 5]);
        assert_eq!(shelf.find(&desc)?, [4, 1, 7, 3, 6, 5, 2]);

        let years: Vec<Option<i32>> = shelf
            .db
            .repo
            .search_books(&desc)?
            .iter()
            .map(|book| book.published_year)
            .collect();
        assert_eq!(
            years,
            [
                Some(1990),
                Some(1990),
                Some(1980),
                Some(1980),
                Some(1970),
                None,
                None
            ]
        );
        Ok(())
    }
}

backend_tests! {
    fn limit_and_offset_page_through_the_order(backend: Backend) -> TestResult {
        let shelf = Shelf::new(backend)?;
        assert_eq!(shelf.find(&BookFilter::new().limit(3))?, [1, 2, 3]);
        assert_eq!(
            shelf.find(&BookFilter::new().limit(3).offset(2))?,
            [3, 4, 5]
        );
        assert_eq!(shelf.find(&BookFilter::new().limit(3).offset(6))?, [7]);
        assert!(shelf.find(&BookFilter::new().limit(0))?.is_empty());
        assert_eq!(shelf.find(&BookFilter::new().limit(100))?.len(), 7);
        // An offset without a limit skips and returns the rest.
        assert_eq!(shelf.find(&BookFilter::new().offset(5))?, [6, 7]);
        assert_eq!(shelf.find(&BookFilter::new().offset(0))?.len(), 7);
        assert!(shelf.find(&BookFilter::new().offset(7))?.is_empty());
        assert!(shelf.find(&BookFilter::new().offset(u32::MAX))?.is_empty());
        // Limit and offset apply after ordering.
        let by_title = BookFilter::new()
            .order_by(BookOrder::Title, Direction::Ascending)
            .offset(1)
            .limit(2);
        assert_eq!(shelf.find(&by_title)?, [4, 3]);
        Ok(())
    }
}

backend_tests! {
    fn criteria_combine(backend: Backend) -> TestResult {
        let shelf = Shelf::new(backend)?;
        let filter = BookFilter::new()
            .author(shelf.a)
            .title_contains("T")
            .year_from(1980)
            .year_to(1990)
            .order_by(BookOrder::Title, Direction::Descending);
        assert_eq!(shelf.find(&filter)?, [7, 1]);
        assert_eq!(shelf.find(&filter.clone().limit(1))?, [7]);
        assert_eq!(shelf.find(&filter.clone().offset(1))?, [1]);
        assert!(shelf.find(&filter.author(shelf.b))?.is_empty());
        Ok(())
    }
}

backend_tests! {
    fn pages_first_after_and_all(backend: Backend) -> TestResult {
        let db = TestDb::open(backend)?;
        seed(&db.repo, 5, 2)?;
        let all = db.repo.list_books(Page::all())?;
        assert_eq!(all.len(), 10);
        assert_eq!(Page::<BookId>::default(), Page::all());

        assert_eq!(db.repo.list_books(Page::first(3))?, all[..3]);
        assert_eq!(db.repo.list_books(Page::after(all[2].id, 3))?, all[3..6]);
        assert_eq!(db.repo.list_books(Page::after(all[7].id, 3))?, all[8..]);
        assert_eq!(db.repo.list_books(Page::first(100))?, all);
        assert_eq!(db.repo.list_books(Page::after(BookId(-1), 2))?, all[..2]);
        assert_eq!(db.repo.list_books(Page::after(BookId(i64::MIN), 2))?, all[..2]);

        assert!(db.repo.list_books(Page::first(0))?.is_empty());
        assert!(db.repo.list_books(Page::after(all[0].id, 0))?.is_empty());
        let last = all[9].id;
        assert!(db.repo.list_books(Page::after(last, 10))?.is_empty());
        assert!(db.repo.list_books(Page::after(BookId(i64::MAX), 10))?.is_empty());

        let authors = db.repo.list_authors(Page::all())?;
        assert_eq!(db.repo.list_authors(Page::first(2))?, authors[..2]);
        assert!(db.repo.list_authors(Page::first(0))?.is_empty());
        assert!(db
            .repo
            .list_authors(Page::after(authors[4].id, 5))?
            .is_empty());
        Ok(())
    }
}

backend_tests! {
    fn pages_are_typed_by_the_ids_they_page(backend: Backend) -> TestResult {
        let db = TestDb::open(backend)?;
        let repo = &db.repo;
        let authors = seed(repo, 3, 1)?;
        let books = repo.list_books(Page::all())?;
        let author_id: AuthorId = authors[0].id;
        let book_id: BookId = books[0].id;

        assert_eq!(Page::after(author_id, 5).after, Some(author_id));
        assert_eq!(Page::after(book_id, 5).after, Some(book_id));
        assert_eq!(Page::after(book_id, 5).limit, Some(5));
        assert_eq!(repo.list_authors(Page::after(author_id, 5))?, authors[1..]);
        assert_eq!(repo.list_books(Page::after(book_id, 5))?, books[1..]);
        Ok(())
    }
}

/// Walks every keyset page of `size` rows and checks each page's length on the way.
fn walk<T, Id>(
    size: u32,
    mut list: impl FnMut(Page<Id>) -> bookshelf::Result<Vec<T>>,
    id: impl Fn(&T) -> Id,
) -> bookshelf::Result<Vec<T>> {
    let mut seen = Vec::new();
    let mut page = Page::first(size);
    loop {
        let rows = list(page)?;
        assert!(rows.len() <= size as usize, "page longer than its limit");
        let Some(last) = rows.last() else {
            return Ok(seen);
        };
        page = Page::after(id(last), size);
        let full = rows.len() == size as usize;
        seen.extend(rows);
        if !full {
            // A short page is the last one.
            assert!(list(page)?.is_empty(), "rows after a short page");
            return Ok(seen);
        }
    }
}

backend_tests! {
    fn walking_all_pages_visits_every_row_once(backend: Backend) -> TestResult {
        let db = TestDb::open(backend)?;
        seed(&db.repo, 23, 3)?;
        let all_books = db.repo.list_books(Page::all())?;
        let all_authors = db.repo.list_authors(Page::all())?;
        assert_eq!((all_books.len(), all_authors.len()), (69, 23));

        for size in [1, 2, 7, 23, 69, 100] {
            let books = walk(
                size,
                |page| db.repo.list_books(page),
                |book: &Book| book.id,
            )?;
            assert_eq!(books, all_books, "books, page size {size}");
            assert!(books.windows(2).all(|pair| pair[0].id < pair[1].id));

            let authors = walk(size, |page| db.repo.list_authors(page), |a: &Author| a.id)?;
            assert_eq!(authors, all_authors, "authors, page size {size}");
            assert!(authors.windows(2).all(|pair| pair[0].id < pair[1].id));
        }
        Ok(())
    }
}

backend_tests! {
    fn keyset_pages_survive_deletes_and_inserts_meanwhile(backend: Backend) -> TestResult {
        let db = TestDb::open(backend)?;
        let repo = &db.repo;
        let authors = seed(repo, 1, 6)?;
        let first = repo.list_books(Page::first(3))?;
        assert_eq!(
            titles(&first),
            ["Title 000001-01", "Title 000001-02", "Title 000001-03"]
        );

        // The anchor row disappears and a new row arrives: the walk goes on from the
        // anchor's id, missing nothing and repeating nothing.
        repo.delete_book(first[2].id)?;
        repo.create_book(&NewBook::new(authors[0].id, "Late Arrival"))?;
        let rest = repo.list_books(Page::after(first[2].id, 10))?;
        assert_eq!(
            titles(&rest),
            [
                "Title 000001-04",
                "Title 000001-05",
                "Title 000001-06",
                "Late Arrival"
            ]
        );
        Ok(())
    }
}
