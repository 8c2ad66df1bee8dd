/// The report's index.html: one section per finding, each with its table inline and links to the
/// files behind it (pictures, Markdown, CSV). Plain HTML, no scripts, so it opens anywhere.
module Lnmn.Analysis.ReportPage

open System.Net
open Lnmn.Core

type Section =
    { Heading: string
      /// A sentence on what the section shows (plain text).
      Note: string
      Table: Table.Table option
      /// (label, path relative to the report folder).
      Links: (string * string) list
      /// PNGs shown inline, relative to the report folder.
      Images: string list }

let private escape (s: string) = WebUtility.HtmlEncode s

let rec private cellHtml (cell: Table.Cell) =
    match cell with
    | Table.Code s -> $"<code>{escape s}</code>"
    | Table.Bold c -> $"<b>{cellHtml c}</b>"
    | c -> escape (Table.shown c)

let tableHtml (table: Table.Table) =
    let header = table.Columns |> List.map (fun c -> $"<th>{escape c}</th>") |> String.concat ""
    let row cells =
        cells |> List.map (fun c -> if Table.isNumber c then $"<td class=\"n\">{cellHtml c}</td>" else $"<td>{cellHtml c}</td>") |> String.concat ""
    $"<table><thead><tr>{header}</tr></thead><tbody>\n"
    + (table.Rows |> List.map (fun r -> $"<tr>{row r}</tr>\n") |> String.concat "")
    + "</tbody></table>"

let private sectionHtml (s: Section) =
    let links = s.Links |> List.map (fun (label, href) -> $"<a href=\"{escape href}\">{escape label}</a>") |> String.concat " · "
    [ $"<h2>{escape s.Heading}</h2>"
      $"<p>{escape s.Note}</p>"
      (if links = "" then "" else $"<p class=\"files\">{links}</p>")
      (s.Images |> List.map (fun png -> $"<p><a href=\"{escape png}\"><img src=\"{escape png}\" alt=\"{escape s.Heading}\"></a></p>") |> String.concat "\n")
      (s.Table |> Option.map tableHtml |> Option.defaultValue "") ]
    |> List.filter ((<>) "")
    |> String.concat "\n"

let render (title: string) (summary: string list) (sections: Section list) =
    let style =
        "body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
        + "table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:2px 8px}"
        + "td.n{text-align:right;font-variant-numeric:tabular-nums}img{max-width:100%;border:1px solid #eee}"
    [ "<!DOCTYPE html>"
      "<html><head><meta charset=\"utf-8\">"
      $"<title>{escape title}</title><style>{style}</style></head><body>"
      $"<h1>{escape title}</h1>"
      "<ul>" + (summary |> List.map (fun l -> $"<li>{escape l}</li>") |> String.concat "") + "</ul>"
      yield! List.map sectionHtml sections
      "</body></html>" ]
    |> String.concat "\n"

/// Every link and image target of the sections (what must exist next to index.html).
let targets (sections: Section list) =
    sections |> List.collect (fun s -> List.map snd s.Links @ s.Images) |> List.distinct
