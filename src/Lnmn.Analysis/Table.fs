/// A table as data, written as Markdown (for people) and CSV (for other programs) from the same
/// cells: CSV numbers at full precision, Markdown numbers rounded for reading. The one table
/// writer of the repository: runs, reports, the comparison, learning curves and the benchmarks.
module Lnmn.Analysis.Table

open System
open System.Globalization

type Cell =
    | Text of string
    /// Shown in backticks in Markdown.
    | Code of string
    | Number of value: float * decimals: int
    /// Two significant digits in Markdown (6.3e4), as in the paper's Table 5.
    | Scientific of float
    /// A difference: shown with its sign in Markdown (+0.25).
    | Change of value: float * decimals: int
    /// A whole number shown with thousands separators in Markdown (450,000).
    | Count of float
    | Bold of Cell

type Table = { Columns: string list; Rows: Cell list list }

/// A table of cells already written as text (e.g. timings formatted by their benchmark).
let ofText (columns: string list) (rows: string list list) =
    { Columns = columns; Rows = rows |> List.map (List.map Text) }

let private invariant = CultureInfo.InvariantCulture

/// What a cell shows, without markup: numbers rounded, a missing number as "–".
let rec shown (cell: Cell) =
    match cell with
    | Text s | Code s -> s
    | Number(v, _) | Scientific v | Change(v, _) | Count v when Double.IsNaN v -> "–"
    | Number(v, decimals) -> v.ToString("F" + string decimals, invariant)
    | Scientific v -> v.ToString("0.0e0", invariant)
    | Change(v, decimals) -> sprintf "%+.*f" decimals v
    | Count v -> v.ToString("N0", invariant)
    | Bold c -> shown c

let rec private markdownCell (cell: Cell) =
    match cell with
    | Text s -> s.Replace("|", @"\|")
    | Code s -> $"`{s}`"
    | Number _ | Scientific _ | Change _ | Count _ -> shown cell
    | Bold c -> $"**{markdownCell c}**"

/// A CSV field (RFC 4180): quoted, its quotes doubled, where it holds a comma, quote or line break.
let csvField (s: string) =
    if s.IndexOfAny [| ','; '"'; '\n'; '\r' |] >= 0 then "\"" + s.Replace("\"", "\"\"") + "\"" else s

let rec private csvCell (cell: Cell) =
    match cell with
    | Text s | Code s -> csvField s
    | Number(v, _) | Scientific v | Change(v, _) | Count v -> if Double.IsNaN v then "" else v.ToString("R", invariant)
    | Bold c -> csvCell c

let rec isNumber (cell: Cell) =
    match cell with
    | Number _ | Scientific _ | Change _ | Count _ -> true
    | Bold c -> isNumber c
    | Text _ | Code _ -> false

/// Numeric columns (judged by the first row) are right-aligned. Lines joined by "\n", no final one.
let markdown (table: Table) =
    let aligned =
        match table.Rows with
        | first :: _ -> first |> List.map (fun c -> if isNumber c then " ---: |" else " --- |")
        | [] -> table.Columns |> List.map (fun _ -> " --- |")
    [ yield "| " + String.concat " | " table.Columns + " |"
      yield "|" + String.concat "" aligned
      for row in table.Rows do yield "| " + String.concat " | " (List.map markdownCell row) + " |" ]
    |> String.concat "\n"

/// A header line, then a line a row; every line ends in "\n".
let csv (table: Table) =
    (table.Columns |> List.map csvField |> String.concat ",")
    :: [ for row in table.Rows -> row |> List.map csvCell |> String.concat "," ]
    |> List.map (fun line -> line + "\n")
    |> String.concat ""
