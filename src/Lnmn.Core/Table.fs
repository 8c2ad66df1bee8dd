/// A table as data, written as Markdown (for people) and CSV (for other programs) from the same
/// cells: CSV numbers at full precision, Markdown numbers rounded for reading.
module Lnmn.Core.Table

open System
open System.Globalization

type Cell =
    | Text of string
    /// Shown in backticks in Markdown.
    | Code of string
    | Number of value: float * decimals: int
    /// Two significant digits in Markdown (6.3e4), as in the paper's Table 5.
    | Scientific of float
    | Bold of Cell

type Table = { Columns: string list; Rows: Cell list list }

let private invariant = CultureInfo.InvariantCulture

/// What a cell shows, without markup: numbers rounded, a missing number as "–".
let rec shown (cell: Cell) =
    match cell with
    | Text s | Code s -> s
    | Number(v, _) | Scientific v when Double.IsNaN v -> "–"
    | Number(v, decimals) -> v.ToString("F" + string decimals, invariant)
    | Scientific v -> v.ToString("0.0e0", invariant)
    | Bold c -> shown c

let rec private markdownCell (cell: Cell) =
    match cell with
    | Text s -> s.Replace("|", @"\|")
    | Code s -> $"`{s}`"
    | Number _ | Scientific _ -> shown cell
    | Bold c -> $"**{markdownCell c}**"

let rec private csvCell (cell: Cell) =
    match cell with
    | Text s | Code s -> if s.IndexOfAny [| ','; '"'; '\n' |] >= 0 then "\"" + s.Replace("\"", "\"\"") + "\"" else s
    | Number(v, _) | Scientific v -> if Double.IsNaN v then "" else v.ToString("R", invariant)
    | Bold c -> csvCell c

let rec isNumber (cell: Cell) =
    match cell with
    | Number _ | Scientific _ -> true
    | Bold c -> isNumber c
    | Text _ | Code _ -> false

/// Numeric columns (judged by the first row) are right-aligned.
let markdown (table: Table) =
    let aligned =
        match table.Rows with
        | first :: _ -> first |> List.map (fun c -> if isNumber c then " ---: |" else " --- |")
        | [] -> table.Columns |> List.map (fun _ -> " --- |")
    [ yield "| " + String.concat " | " table.Columns + " |"
      yield "|" + String.concat "" aligned
      for row in table.Rows do yield "| " + String.concat " | " (List.map markdownCell row) + " |" ]
    |> String.concat "\n"

let csv (table: Table) =
    (table.Columns |> List.map (Text >> csvCell) |> String.concat ",")
    :: [ for row in table.Rows -> row |> List.map csvCell |> String.concat "," ]
    |> List.map (fun line -> line + "\n")
    |> String.concat ""
