//! The contacts CSV contract (SPEC §3), through the library API, on real files.

use std::io::{self, Read, Write};
use std::path::Path;

use outdial::area_codes::Region;
use outdial::contacts::{
    Column, Contact, ContactReader, ContactsError, ContactsFile, ContactsFormat, CustomVariable,
    Delimiter, Encoding, MAX_FIELD_BYTES, PHONE_HEADERS, Rejected, Row,
};
use outdial::phone::Country;
use proptest::prelude::*;
use tempfile::NamedTempFile;

fn us() -> Country {
    "US".parse().unwrap()
}

/// Writes `contents` to a fresh temporary file (kept alive by the returned handle).
fn csv_file(contents: impl AsRef<[u8]>) -> NamedTempFile {
    let mut file = NamedTempFile::new().unwrap();
    file.write_all(contents.as_ref()).unwrap();
    file.flush().unwrap();
    file
}

/// Every row of the file, or the first fatal error (from opening or from any row).
fn read(contents: impl AsRef<[u8]>) -> Result<Vec<Row>, ContactsError> {
    let file = csv_file(contents);
    ContactReader::open(file.path(), us())?.collect()
}

fn contacts(contents: impl AsRef<[u8]>) -> Vec<Contact> {
    read(contents)
        .unwrap()
        .into_iter()
        .map(|row| match row {
            Row::Contact(contact) => contact,
            Row::Rejected(rejected) => panic!("unexpected rejection: {rejected:?}"),
        })
        .collect()
}

fn only_contact(contents: impl AsRef<[u8]>) -> Contact {
    let mut all = contacts(contents);
    assert_eq!(all.len(), 1, "{all:?}");
    all.remove(0)
}

fn fatal(contents: impl AsRef<[u8]>) -> ContactsError {
    read(contents).expect_err("the file should not be readable")
}

fn lines(rows: &[Row]) -> Vec<u64> {
    rows.iter()
        .map(|row| match row {
            Row::Contact(contact) => contact.line,
            Row::Rejected(rejected) => rejected.line,
        })
        .collect()
}

fn phones(rows: &[Contact]) -> Vec<&str> {
    rows.iter().map(|contact| contact.phone.as_str()).collect()
}

fn variables(pairs: &[(&str, &str)]) -> Vec<CustomVariable> {
    pairs
        .iter()
        .map(|&(key, value)| CustomVariable {
            key: key.into(),
            value: value.into(),
        })
        .collect()
}

#[test]
fn a_byte_order_mark_is_not_part_of_the_first_header() {
    // Proves a BOM-prefixed file (as Excel writes) still has its `phone` column found.
    let contact = only_contact("\u{feff}phone,name\n4155552671,Ada\n");
    assert_eq!(contact.phone.as_str(), "+14155552671");
    assert_eq!(contact.name, "Ada");
    assert!(contact.custom_variables.is_empty());
}

#[test]
fn a_byte_order_mark_split_across_reads_is_stripped_too() {
    // Proves a BOM handed over one byte at a time reads exactly as a BOM read whole: it neither
    // joins the first header, nor changes how that header's quotes read, nor hides a blank row.
    let files: [&[u8]; 3] = [
        b"\xef\xbb\xbfphone\n4155552671\n",
        b"\xef\xbb\xbf\"phone\"\n4155552671\n",
        b"\xef\xbb\xbf,,\nphone\n4155552671\n",
    ];
    for data in files {
        let whole = outcome(data);
        assert!(matches!(&whole[..], [Ok(Row::Contact(c))] if c.custom_variables.is_empty()));
        assert_eq!(outcome(OneByte(data)), whole, "{data:?}");
    }
}

#[test]
fn crlf_rows_keep_their_values_and_line_numbers() {
    // Proves CRLF files lose the `\r` from the last cell and number their rows like LF files.
    let all = contacts("phone,name,plan\r\n4155552671,Ada,gold\r\n2125550143,Bob,silver\r\n");
    assert_eq!(all[0].custom_variables, variables(&[("plan", "gold")]));
    assert_eq!(all[1].custom_variables, variables(&[("plan", "silver")]));
    assert_eq!(all.iter().map(|c| c.line).collect::<Vec<_>>(), [2, 3]);
}

#[test]
fn quoted_commas_quotes_and_newlines_are_cell_content() {
    // Proves RFC 4180 quoting is honoured and rows after a multi-line cell keep their true line.
    let csv = "phone,name,note\n\
               4155552671,\"Lovelace, Ada\",\"said \"\"hi\"\"\"\n\
               2125550143,Bob,\"line one\nline two\r\nline three\"\n\
               3125550199,Cy,plain\n";
    let all = contacts(csv);
    assert_eq!(all[0].name, "Lovelace, Ada");
    assert_eq!(
        all[0].custom_variables,
        variables(&[("note", "said \"hi\"")])
    );
    assert_eq!(
        all[1].custom_variables,
        variables(&[("note", "line one\nline two\r\nline three")])
    );
    assert_eq!(all.iter().map(|c| c.line).collect::<Vec<_>>(), [2, 3, 6]);
}

#[test]
fn blank_lines_are_skipped_but_counted() {
    // Proves empty lines and all-empty rows yield nothing yet still count towards line numbers.
    let rows = read("phone,name\n\n4155552671,Ada\r\n\r\n,\n  ,  \n2125550143,Bob").unwrap();
    assert_eq!(lines(&rows), [3, 7]);
}

#[test]
fn phone_column_aliases_and_header_case_are_accepted() {
    // Proves `phone`, `phone_number` and `number` are found in any case and with padding.
    for header in [
        "phone",
        "PHONE",
        " Phone ",
        "phone_number",
        "Phone_Number",
        "number",
        "NUMBER",
    ] {
        let contact = only_contact(format!("name,{header}\nAda,(415) 555-2671\n"));
        assert_eq!(contact.phone.as_str(), "+14155552671", "header {header:?}");
        assert_eq!(contact.name, "Ada");
    }
}

#[test]
fn phone_wins_over_the_other_aliases() {
    // Proves a `number` column beside a `phone` column stays a custom variable.
    let contact = only_contact("Number,Phone\n42,4155552671\n");
    assert_eq!(contact.phone.as_str(), "+14155552671");
    assert_eq!(contact.custom_variables, variables(&[("Number", "42")]));
}

#[test]
fn other_columns_become_custom_variables_in_header_order() {
    // Proves every non-role column with a header is passed on as written, in order, and
    // columns without a header are dropped.
    let csv = "Plan ,phone,NAME,,Due Date,timezone,region,notes\n\
               gold,4155552671, Ada ,ignored,2024-05-01,,, keep  spaces \n";
    let contact = only_contact(csv);
    assert_eq!(contact.name, "Ada");
    assert_eq!(
        contact.custom_variables,
        variables(&[
            ("Plan", "gold"),
            ("Due Date", "2024-05-01"),
            ("notes", " keep  spaces ")
        ])
    );
    assert_eq!(contact.time_zone, None);
    assert_eq!(contact.region, None);
}

#[test]
fn bad_phones_are_rejected_with_a_reason_and_reading_continues() {
    // Proves unusable phones become Rejected rows with their line, and later rows still read.
    let long = "9".repeat(100);
    let csv = format!("phone,name\nnot a phone,Ada\n,Bob\n  ,Cy\n{long},Di\n4155552671,Eve\n");
    let rows = read(csv).unwrap();
    let rejected: Vec<&Rejected> = rows
        .iter()
        .filter_map(|row| match row {
            Row::Rejected(rejected) => Some(rejected),
            Row::Contact(_) => None,
        })
        .collect();
    assert_eq!(rejected.len(), 4);
    assert_eq!(rejected[0].line, 2);
    assert_eq!(rejected[0].written, "not a phone");
    assert!(
        rejected[0].reason.starts_with("not a phone number"),
        "{rejected:?}"
    );
    assert_eq!(
        (rejected[1].line, rejected[1].reason.as_str()),
        (3, "no phone number")
    );
    assert_eq!(
        (rejected[2].written.as_str(), rejected[2].reason.as_str()),
        ("", "no phone number")
    );
    assert_eq!(rejected[3].written, "9".repeat(40));
    assert!(matches!(rows.last(), Some(Row::Contact(c)) if c.line == 6 && c.name == "Eve"));
}

#[test]
fn a_file_without_a_phone_column_is_fatal_and_names_its_headers() {
    // Proves a missing phone column stops before any row, listing the headers that were found.
    let error = fatal("name,fon,,email\nAda,4155552671,,a@example.com\n");
    let ContactsError::NoPhoneColumn { line, headers, .. } = &error else {
        panic!("{error:?}");
    };
    assert_eq!(*line, 1);
    assert_eq!(headers, &["name", "fon", "email"]);
    let message = error.to_string();
    assert!(message.contains("\"fon\""), "{message}");
    assert!(message.contains("`phone`"), "{message}");
}

#[test]
fn an_empty_file_is_fatal() {
    // Proves a file with no header row (empty, BOM only, or blank lines only) is Empty.
    for contents in ["", "\u{feff}", "\n\n\r\n", " , \n"] {
        let error = fatal(contents);
        assert!(
            matches!(error, ContactsError::Empty { .. }),
            "{contents:?}: {error:?}"
        );
    }
}

#[test]
fn a_header_without_rows_yields_no_contacts() {
    // Proves a header-only file opens, then yields NoContacts as its first and only item.
    let file = csv_file("phone,name\n\n");
    let mut reader = ContactReader::open(file.path(), us()).unwrap();
    let error = reader.next().unwrap().unwrap_err();
    assert!(
        matches!(error, ContactsError::NoContacts { .. }),
        "{error:?}"
    );
    assert!(reader.next().is_none());
}

#[test]
fn a_missing_file_is_an_open_error_naming_it() {
    // Proves an unreadable path fails at open with the path in the message.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spring.csv");
    let error = ContactReader::open(&path, us()).err().unwrap();
    assert!(matches!(error, ContactsError::Open { .. }), "{error:?}");
    assert!(error.to_string().contains("spring.csv"));
}

#[test]
fn bytes_that_are_not_utf8_are_fatal_with_line_and_column() {
    // Proves invalid UTF-8 stops the read at the right line and column, in the agreed wording.
    let csv = b"phone,name,email\n4155552671,Ada,a@example.com\n\"2125550143\",\"B\nob\",b\xff@example.com\n";
    let file = csv_file(csv);
    let results: Vec<_> = ContactReader::open(file.path(), us()).unwrap().collect();
    assert_eq!(results.len(), 2, "the reader stops after the error");
    let error = results[1].as_ref().unwrap_err();
    let ContactsError::NotUtf8 { line, column, .. } = error else {
        panic!("{error:?}");
    };
    assert_eq!(*line, 3);
    assert_eq!(
        *column,
        Column {
            number: 3,
            header: Some("email".into())
        }
    );
    let name = file.path().display();
    assert_eq!(
        error.to_string(),
        format!(
            "contacts file {name}, line 3, column 3 (email): not valid UTF-8 — save the file as UTF-8, or name its encoding with `contacts_encoding = \"windows-1252\"` (say) in the campaign file"
        )
    );
}

#[test]
fn a_header_that_is_not_utf8_is_fatal_at_open() {
    // Proves the header row is held to UTF-8 as well, with a column but no header name.
    let error = fatal(b"phone,n\xe9me\n4155552671,Ada\n");
    assert!(
        matches!(
            &error,
            ContactsError::NotUtf8 {
                line: 1,
                column: Column {
                    number: 2,
                    header: None
                },
                ..
            }
        ),
        "{error:?}"
    );
}

#[test]
fn a_ten_megabyte_field_is_too_large() {
    // Proves a huge cell is a clear error naming its line and column, not a huge custom variable.
    let mut csv = b"phone,name,notes\n4155552671,Ada,short\n2125550143,Bob,".to_vec();
    csv.extend(std::iter::repeat_n(b'x', 10 * 1024 * 1024));
    csv.extend(b"\n3125550199,Cy,short\n");
    let error = fatal(csv);
    let ContactsError::FieldTooLarge { line, column, .. } = &error else {
        panic!("{error:?}");
    };
    assert_eq!(
        (*line, column.number, column.header.as_deref()),
        (3, 3, Some("notes"))
    );
    assert!(
        error.to_string().contains("line 3, column 3 (notes)"),
        "{error}"
    );
}

#[test]
fn a_field_at_the_limit_is_accepted() {
    // Proves the size limit is a bound, not a cut-off below it.
    let notes = "y".repeat(MAX_FIELD_BYTES);
    let contact = only_contact(format!("phone,notes\n4155552671,{notes}\n"));
    assert_eq!(contact.custom_variables[0].value.len(), MAX_FIELD_BYTES);
}

#[test]
fn an_unclosed_quote_swallowing_the_file_is_caught() {
    // Proves a runaway quoted field is stopped after a bounded read, at the row where it opens.
    let mut csv = b"phone,name\n4155552671,Ada\n2125550143,\"Bob\n".to_vec();
    let row = b"3125550199,Cy\n";
    csv.extend(row.iter().cycle().take(17 * 1024 * 1024));
    let error = fatal(csv);
    assert!(
        matches!(error, ContactsError::RowTooLarge { line: 3, .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("unclosed"), "{error}");
}

#[test]
fn short_rows_are_padded_and_long_rows_trimmed() {
    // Proves rows with fewer cells than the header read as empty cells, and extra cells are ignored.
    let all = contacts("phone,name,plan,tier\n4155552671\n2125550143,Bob,gold,1,extra,more\n");
    assert_eq!(all[0].name, "");
    assert_eq!(
        all[0].custom_variables,
        variables(&[("plan", ""), ("tier", "")])
    );
    assert_eq!(
        all[1].custom_variables,
        variables(&[("plan", "gold"), ("tier", "1")])
    );
}

#[test]
fn time_zones_must_be_known_iana_names() {
    // Proves a timezone cell is canonicalised when known, absent when empty, a rejection otherwise.
    let rows =
        read("phone,timezone\n4155552671,america/chicago\n2125550143,\n3125550199,Mars/Base\n")
            .unwrap();
    let [
        Row::Contact(known),
        Row::Contact(empty),
        Row::Rejected(unknown),
    ] = &rows[..]
    else {
        panic!("{rows:?}");
    };
    assert_eq!(known.time_zone.as_deref(), Some("America/Chicago"));
    assert_eq!(empty.time_zone, None);
    assert_eq!(unknown.line, 4);
    assert_eq!(unknown.written, "3125550199");
    assert!(
        unknown
            .reason
            .starts_with("unknown time zone \"Mars/Base\""),
        "{unknown:?}"
    );
}

#[test]
fn regions_are_iso_subdivisions() {
    // Proves regions are upper-cased, bare codes take the default country, others are rejected.
    let csv =
        "phone,Region\n4155552671,us-ca\n4165550100,CA-ON\n2125550143,ny\n3125550199,Illinois\n";
    let rows = read(csv).unwrap();
    let regions: Vec<Option<&str>> = rows
        .iter()
        .filter_map(|row| match row {
            Row::Contact(contact) => Some(contact.region.as_ref().map(|r| r.0.as_str())),
            Row::Rejected(_) => None,
        })
        .collect();
    assert_eq!(regions, [Some("US-CA"), Some("CA-ON"), Some("US-NY")]);
    let Some(Row::Rejected(rejected)) = rows.last() else {
        panic!("{rows:?}");
    };
    assert!(rejected.reason.contains("\"Illinois\""), "{rejected:?}");
}

#[test]
fn a_full_row_reads_into_every_field() {
    // Proves one complete row maps onto the whole Contact, serde round trip included.
    let contact = only_contact(
        "phone,name,timezone,region,plan\n+1 415 555 2671,Ada,America/Los_Angeles,US-CA,gold\n",
    );
    let expected = Contact {
        phone: outdial::phone::Phone::parse("+14155552671", us()).unwrap(),
        name: "Ada".into(),
        line: 2,
        time_zone: Some("America/Los_Angeles".into()),
        region: Some(Region("US-CA".into())),
        custom_variables: variables(&[("plan", "gold")]),
    };
    assert_eq!(contact, expected);
    let json = serde_json::to_string(&contact).unwrap();
    assert_eq!(serde_json::from_str::<Contact>(&json).unwrap(), expected);
}

#[test]
fn many_rows_read_in_order() {
    // Proves a larger file streams through with one row per line and nothing lost.
    let mut csv = String::from("phone,name\n");
    for i in 0..5_000 {
        csv.push_str(&format!("212555{:04},n{i}\n", i));
    }
    let all = contacts(csv);
    assert_eq!(all.len(), 5_000);
    assert_eq!(phones(&all[..2]), ["+12125550000", "+12125550001"]);
    assert!(all.iter().enumerate().all(|(i, c)| c.line == i as u64 + 2));
}

/// A reader that hands over one byte per call, the worst case for anything that assumes
/// a read returns a whole BOM, line or row.
struct OneByte<R>(R);

impl<R: Read> Read for OneByte<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let len = buf.len().min(1);
        self.0.read(&mut buf[..len])
    }
}

/// What reading yields, errors as their messages so that outcomes can be compared.
fn outcome(reader: impl Read) -> Vec<Result<Row, String>> {
    match ContactReader::from_reader(reader, Path::new("fuzz.csv"), us()) {
        Err(error) => vec![Err(error.to_string())],
        Ok(rows) => rows.map(|row| row.map_err(|e| e.to_string())).collect(),
    }
}

/// Bytes that look enough like a contacts file to get past the header now and then.
fn csv_like() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(b"phone".to_vec()),
        Just(b"name,timezone,region".to_vec()),
        Just(b"4155552671".to_vec()),
        Just(b"America/New_York".to_vec()),
        Just(b"US-CA".to_vec()),
        Just(b",".to_vec()),
        Just(b"\"".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"\xef\xbb\xbf".to_vec()),
        Just(b"\xff\xfe".to_vec()),
        Just(b"\xfe\xff".to_vec()),
        Just(b";".to_vec()),
        Just(b"\t".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..8),
    ];
    proptest::collection::vec(piece, 0..40).prop_map(|pieces| pieces.concat())
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        // Proves any input yields Ok or Err items and then ends, without panicking.
        let mut items = 0;
        if let Ok(reader) = ContactReader::from_reader(&bytes[..], Path::new("fuzz.csv"), us()) {
            for _item in reader {
                items += 1;
                prop_assert!(items <= bytes.len() + 1, "more items than the input can hold");
            }
        }
    }

    #[test]
    fn csv_like_bytes_never_panic_and_do_not_depend_on_read_sizes(bytes in csv_like()) {
        // Proves near-CSV input never panics, and reading it a byte at a time changes nothing
        // (line numbers, BOM handling and errors included).
        prop_assert_eq!(outcome(&bytes[..]), outcome(OneByte(&bytes[..])));
    }

    #[test]
    fn line_numbers_are_exact_whatever_the_layout(
        rows in proptest::collection::vec((0usize..3, any::<bool>(), 0usize..3), 1..30),
    ) {
        // Proves every row's line is where it starts, across CRLF, blank lines and multi-line cells.
        let mut csv = String::from("phone,note\n");
        let mut line = 2;
        let mut expected = Vec::new();
        for (i, &(blank_lines, crlf, note_lines)) in rows.iter().enumerate() {
            let newline = if crlf { "\r\n" } else { "\n" };
            for _ in 0..blank_lines {
                csv.push_str(newline);
                line += 1;
            }
            expected.push(line);
            let note = vec!["x"; note_lines + 1].join(newline);
            csv.push_str(&format!("212555{i:04},\"{note}\"{newline}"));
            line += 1 + note_lines as u64;
        }
        let rows: Vec<Row> = ContactReader::from_reader(csv.as_bytes(), Path::new("l.csv"), us())
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        prop_assert_eq!(lines(&rows), expected);
    }
}

/// Reads `contents` as a file written in `format`.
fn read_as(contents: impl AsRef<[u8]>, format: ContactsFormat) -> Result<Vec<Row>, ContactsError> {
    let file = csv_file(contents);
    let file = ContactsFile {
        path: file.path().to_owned(),
        format,
    };
    ContactReader::open(&file, us())?.collect()
}

fn windows_1252() -> ContactsFormat {
    ContactsFormat {
        encoding: Some(Encoding::parse("windows-1252").unwrap()),
        ..ContactsFormat::default()
    }
}

/// UTF-16 of `text`, little or big endian, with its byte order mark.
fn utf16(text: &str, little_endian: bool) -> Vec<u8> {
    let mut bytes = if little_endian {
        vec![0xff, 0xfe]
    } else {
        vec![0xfe, 0xff]
    };
    for unit in text.encode_utf16() {
        let pair = if little_endian {
            unit.to_le_bytes()
        } else {
            unit.to_be_bytes()
        };
        bytes.extend_from_slice(&pair);
    }
    bytes
}

/// An Excel "CSV (semicolon)" export from a European locale: `;` between cells, Windows-1252
/// accents, CRLF rows, a decimal comma inside a cell. Every cell and line number is right.
#[test]
fn an_excel_semicolon_file_in_windows_1252_reads_with_its_accents() {
    let mut csv = b"Phone Number;Name;Stadt;Betrag\r\n".to_vec();
    csv.extend_from_slice(b"+49 30 901820;J\xfcrgen M\xfcller;K\xf6ln;1,50\r\n");
    csv.extend_from_slice(b"\r\n(415) 555-2671;Ren\xe9e;S\xe3o Paulo;\x80 3\r\n");
    let rows = read_as(&csv, windows_1252()).unwrap();
    assert_eq!(lines(&rows), [2, 4]);
    let all: Vec<Contact> = rows
        .into_iter()
        .map(|row| match row {
            Row::Contact(c) => c,
            Row::Rejected(r) => panic!("{r:?}"),
        })
        .collect();
    assert_eq!(phones(&all), ["+4930901820", "+14155552671"]);
    assert_eq!(all[0].name, "Jürgen Müller");
    assert_eq!(
        all[0].custom_variables,
        variables(&[("Stadt", "Köln"), ("Betrag", "1,50")])
    );
    assert_eq!(all[1].name, "Renée");
    assert_eq!(
        all[1].custom_variables,
        variables(&[("Stadt", "São Paulo"), ("Betrag", "€ 3")])
    );
}

/// Without its encoding named, the same Windows-1252 file is refused with the line, the column
/// and the key that fixes it, never read with mangled names.
#[test]
fn a_windows_1252_file_without_its_encoding_names_the_key() {
    let error = fatal(b"phone;name\n4155552671;Ren\xe9e\n");
    assert!(
        matches!(error, ContactsError::NotUtf8 { line: 2, .. }),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(message.contains("contacts_encoding"), "{message}");
    assert!(message.contains("column 2 (name)"), "{message}");
}

/// A tab-delimited UTF-16 LE file with a BOM (Excel's "Unicode text"), and the same in UTF-16 BE,
/// read with no setting: delimiter and encoding are both detected, lines stay exact.
#[test]
fn tab_delimited_utf16_with_a_bom_is_detected_and_decoded() {
    let text = "Mobile\tName\tNote\r\n4155552671\tZoë\t\"a\r\nb\"\r\n\r\n2125550143\t李\t\r\n";
    for little_endian in [true, false] {
        let rows = read(utf16(text, little_endian)).unwrap();
        assert_eq!(lines(&rows), [2, 5], "little endian: {little_endian}");
        let all: Vec<Contact> = rows
            .into_iter()
            .filter_map(|row| match row {
                Row::Contact(c) => Some(c),
                Row::Rejected(_) => None,
            })
            .collect();
        assert_eq!(phones(&all), ["+14155552671", "+12125550143"]);
        assert_eq!((all[0].name.as_str(), all[1].name.as_str()), ("Zoë", "李"));
        assert_eq!(all[0].custom_variables, variables(&[("Note", "a\r\nb")]));
    }
}

/// A BOM wins over a named encoding: a UTF-16 file read with `contacts_encoding = "windows-1252"`
/// left over from an older export still reads right.
#[test]
fn a_byte_order_mark_wins_over_a_named_encoding() {
    let rows = read_as(utf16("phone,name\n4155552671,Zoë\n", true), windows_1252()).unwrap();
    assert!(
        matches!(&rows[..], [Row::Contact(c)] if c.name == "Zoë"),
        "{rows:?}"
    );
}

/// Every documented phone header is found, in the spellings spreadsheets use (case, spaces,
/// underscores, hyphens), with `;`, tab and `|` as well as `,` between cells.
#[test]
fn every_phone_header_alias_is_recognised_in_every_spelling_and_delimiter() {
    let spellings = [
        "Phone",
        "Phone Number",
        "phone_number",
        "PHONE-NUMBER",
        "Phone No.",
        "Mobile",
        "Mobile Phone",
        "mobile_number",
        "Cell",
        "Cell Phone",
        "cell number",
        "Telephone",
        "Telephone Number",
        "TEL",
        "Tel.",
        "Number",
    ];
    for header in spellings {
        for delimiter in [",", ";", "\t", "|"] {
            let csv = format!(
                "Name{delimiter}{header}{delimiter}City\nAda{delimiter}(415) 555-2671{delimiter}SF\n"
            );
            let contact = only_contact(&csv);
            assert_eq!(
                contact.phone.as_str(),
                "+14155552671",
                "{header:?} {delimiter:?}"
            );
            assert_eq!(contact.name, "Ada");
            assert_eq!(contact.custom_variables, variables(&[("City", "SF")]));
        }
    }
    // Each entry of the documented list is one of the spellings above.
    let key = |h: &str| {
        h.chars()
            .filter(|c| !matches!(c, ' ' | '_' | '-' | '.'))
            .flat_map(char::to_lowercase)
            .collect::<String>()
    };
    for alias in PHONE_HEADERS {
        assert!(
            spellings.iter().any(|s| key(s) == alias),
            "{alias} untested"
        );
    }
}

/// The delimiter is what the header line uses most outside quotes; a `;` file whose cells hold
/// commas (addresses, decimal commas) is not split on them.
#[test]
fn the_delimiter_is_detected_from_the_header_line_outside_quotes() {
    let contact = only_contact("\"Street, No\";phone;name\n\"Main St, 5\";4155552671;Ada, B\n");
    assert_eq!(contact.name, "Ada, B");
    assert_eq!(
        contact.custom_variables,
        variables(&[("Street, No", "Main St, 5")])
    );
    // A one-column file has no delimiter to see; it still reads.
    assert_eq!(
        only_contact("phone\n4155552671\n").phone.as_str(),
        "+14155552671"
    );
}

/// A file split on the wrong delimiter (a `;` file with `contacts_delimiter = ","`, a tab file
/// read as `;`) gets advice about the delimiter, never about renaming a column.
#[test]
fn a_wrong_delimiter_gets_advice_about_the_delimiter() {
    let cases = [
        (",", "phone;name\n4155552671;Ada\n", ";"),
        (";", "phone\tname\n4155552671\tAda\n", "tab"),
        (",", "Phone Number|Name\n4155552671|Ada\n", "|"),
    ];
    for (used, csv, seen) in cases {
        let format = ContactsFormat {
            delimiter: Some(Delimiter::parse(used).unwrap()),
            ..ContactsFormat::default()
        };
        let error = read_as(csv, format).unwrap_err();
        assert!(
            matches!(error, ContactsError::WrongDelimiter { line: 1, .. }),
            "{error:?}"
        );
        let message = error.to_string();
        assert!(
            message.contains(&format!("contacts_delimiter = \"{seen}\"")),
            "{message}"
        );
        assert!(!message.contains("name the column"), "{message}");
    }
}

/// Delimiter settings are one usable character (or `tab`); letters, digits, quotes and longer
/// strings are refused with the accepted forms.
#[test]
fn delimiter_settings_are_checked() {
    for good in [",", ";", "|", "tab", "\t", ":"] {
        assert!(Delimiter::parse(good).is_ok(), "{good:?}");
    }
    for bad in ["", "a", "7", "\"", ";;", "\n", "comma", "é"] {
        let problem = Delimiter::parse(bad).unwrap_err();
        assert!(problem.contains("\"tab\""), "{bad:?}: {problem}");
    }
    assert!(Encoding::parse("latin1").is_ok());
    assert!(
        Encoding::parse("klingon")
            .unwrap_err()
            .contains("windows-1252")
    );
}

/// A FIFO (or any file that is not a regular file) is refused at once, without waiting for a
/// writer that may never come; a directory too.
#[test]
fn a_fifo_or_a_folder_as_the_contacts_file_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("contacts.csv");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    for path in [fifo, dir.path().to_owned()] {
        let (done, outcome) = std::sync::mpsc::channel();
        let opened = path.clone();
        std::thread::spawn(move || {
            let result = ContactReader::open(opened.as_path(), us()).map(|_| ());
            let _ = done.send(result);
        });
        let result = outcome
            .recv_timeout(std::time::Duration::from_secs(20))
            .expect("opening a FIFO must not wait for a writer");
        let error = result.expect_err("not a regular file");
        assert!(matches!(error, ContactsError::NotAFile { .. }), "{error:?}");
        assert!(error.to_string().contains(&path.display().to_string()));
    }
}

/// A file that is not a contacts CSV (binary bytes, a PDF, a campaign TOML, JSON, a key file)
/// is refused without a byte of its content in the message.
#[test]
fn a_file_that_is_not_a_contacts_csv_never_has_its_content_echoed() {
    let secret = "sk_live_SECRETSECRET";
    let files: Vec<Vec<u8>> = vec![
        format!("%PDF-1.7 {secret}\n%\u{e2}\u{e3}\n1 0 obj\n").into_bytes(),
        format!("name = \"spring\"\nagent = \"{secret}\"\ncontacts = \"c.csv\"\n").into_bytes(),
        format!("[api]\nkey = \"{secret}\"\n").into_bytes(),
        format!("# {secret}\nphone\n").into_bytes(),
        format!("{{\"key\": \"{secret}\"}}\n").into_bytes(),
        format!("<html>{secret}</html>\n").into_bytes(),
        format!("\x7fELF\x02\x01{secret}\x00\x00\n").into_bytes(),
        format!("{secret}{}\n", "A".repeat(80)).into_bytes(),
        [
            b"\x89PNG\r\n\x1a\n".as_slice(),
            secret.as_bytes(),
            &[0xff, 0xd8, 0x00],
        ]
        .concat(),
    ];
    for contents in files {
        let message = match read(&contents) {
            Err(error) => error.to_string(),
            Ok(rows) => panic!("{contents:?} read as {rows:?}"),
        };
        assert!(!message.contains("SECRET"), "{message}");
        assert!(!message.contains("spring"), "{message}");
        assert!(message.contains("contacts file"), "{message}");
    }
}
