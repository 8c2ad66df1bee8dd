module Lnmn.Tests.ReportTests

open System
open System.Globalization
open System.IO
open System.Text
open System.Text.Json
open System.Text.RegularExpressions
open Expecto
open TorchSharp
open Lnmn.Core
open Lnmn.Core.Specs
open Lnmn.Core.Network
open Lnmn.Analysis
open Lnmn.Tests.TestUtil

/// The cells of a Markdown table (header first, the rule dropped), markup stripped.
let private markdownCells (text: string) =
    text.Split('\n')
    |> Array.filter (fun l -> l.StartsWith "|" && not (Regex.IsMatch(l, @"^\|( *-+:? *\|)+$")))
    |> Array.map (fun l ->
        Regex.Split(l.Trim().Trim('|'), @"(?<!\\)\|")
        |> Array.map (fun c -> c.Trim().Replace("**", "").Trim('`').Replace(@"\|", "|")))

/// RFC 4180 fields, read character by character.
let private csvCells (text: string) =
    let rows = ResizeArray<string[]>()
    let row, field = ResizeArray<string>(), StringBuilder()
    let mutable quoted, i = false, 0
    while i < text.Length do
        let c = text.[i]
        if quoted then
            if c = '"' && i + 1 < text.Length && text.[i + 1] = '"' then field.Append '"' |> ignore; i <- i + 1
            elif c = '"' then quoted <- false
            else field.Append c |> ignore
        elif c = '"' then quoted <- true
        elif c = ',' then row.Add(string field); field.Clear() |> ignore
        elif c = '\n' then row.Add(string field); field.Clear() |> ignore; rows.Add(row.ToArray()); row.Clear()
        else field.Append c |> ignore
        i <- i + 1
    rows.ToArray()

/// Every cell of the Markdown shows its CSV cell: the same text, or the CSV number rounded as shown.
let private expectSameNumbers (markdown: string) (csv: string) what =
    let md, cs = markdownCells markdown, csvCells csv
    Expect.equal md.Length cs.Length $"{what}: as many rows"
    Expect.isGreaterThan md.Length 1 $"{what}: a header and rows"
    Array.iteri2 (fun r (m: string[]) (c: string[]) ->
        Expect.equal m.Length c.Length $"{what}: row {r} has as many cells"
        Array.iteri2 (fun j (shown: string) (exact: string) ->
            let parse (s: string) = Double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture)
            match parse shown, parse exact with
            | (true, _), (true, value) when shown.Contains 'e' ->
                Expect.equal (value.ToString("0.0e0", CultureInfo.InvariantCulture)) shown $"{what}: row {r}, cell {j}"
            | (true, _), (true, value) ->
                let decimals = match shown.IndexOf '.' with -1 -> 0 | k -> shown.Length - k - 1
                Expect.equal (value.ToString("F" + string decimals, CultureInfo.InvariantCulture)) shown $"{what}: row {r}, cell {j}"
            | _ when shown = "–" -> Expect.equal exact "" $"{what}: row {r}, cell {j} is missing in both"
            | _ -> Expect.equal (exact.Trim()) shown $"{what}: row {r}, cell {j}") m c) md cs

/// The first `"z":` array of a Plotly page's data.
let private plottedZ (html: string) =
    let bytes = Encoding.UTF8.GetBytes(html.Substring(html.IndexOf("\"z\":") + 4))
    let mutable reader = Utf8JsonReader(ReadOnlySpan bytes, JsonReaderOptions())
    reader.Read() |> ignore
    use doc = JsonDocument.ParseValue(&reader)
    [| for row in doc.RootElement.EnumerateArray() -> [| for v in row.EnumerateArray() -> v.GetDouble() |] |]

/// One short run for the tests below, past its first epoch so that it has curves.
let private trainedRun =
    lazy
        (let run = TrainerTests.freshDir "report-run"
         TrainerTests.train run [ "--max-steps"; "6" ] |> ignore
         run)

/// The report of `trainedRun`: its run, folder, stdout, index.html and the files index.html names.
let private report =
    lazy
        (let run = trainedRun.Force()
         let out = TrainerTests.freshDir "report"
         let code, stdout, err =
             TrainerTests.runCli [ "report"; run; "--out"; out; "--questions"; "40"; "--ig-steps"; "2"; "--pictures"; "1"; "--threads"; "2" ]
         Expect.equal code 0 $"report exits 0 ({err})"
         let index = File.ReadAllText(Path.Combine(out, "index.html"))
         let targets =
             Regex.Matches(index, "(?:href|src)=\"([^\"]+)\"") |> Seq.map (fun m -> Net.WebUtility.HtmlDecode m.Groups.[1].Value) |> Seq.distinct |> List.ofSeq
         run, out, stdout, index, targets)

[<Tests>]
let tests =
    testSequenced <| testList "report" [
        test "a table's Markdown and CSV hold the same numbers (CSV exact, Markdown rounded), quoting and escaping kept apart" {
            let table: Table.Table =
                { Columns = [ "name"; "value"; "attribution"; "formula" ]
                  Rows =
                    [ [ Table.Text "a, b | c"; Table.Bold(Table.Number(12.3456, 2)); Table.Scientific -63412.5; Table.Code "min(x, y)" ]
                      [ Table.Text "say \"hi\""; Table.Number(nan, 1); Table.Scientific 0.000123; Table.Code "x ⊙ y" ] ] }
            let md, csv = Table.markdown table, Table.csv table
            expectSameNumbers md csv "table"
            Expect.stringContains md "**12.35**" "bold, rounded"
            Expect.stringContains md "-6.3e4" "two significant digits"
            Expect.equal (csvCells csv).[1].[0] "a, b | c" "the comma survives CSV quoting"
            Expect.equal (csvCells csv).[2].[0] "say \"hi\"" "quotes survive"
            Expect.equal (markdownCells md).[1].[0] "a, b | c" "the bar is escaped in Markdown"
        }

        test "a question's trace and its w(t) picture hold exactly the forward pass's ModuleWeights" {
            use _ = torch.NewDisposeScope()
            torch.random.manual_seed 5L |> ignore
            let net = LnmnNetwork.compile (NetworkTests.tinySpec Ablation9 Reference)
            let batch = NetworkTests.randomBatch 5L 4 6 NetworkTests.tinyDims
            let result = net.Forward(batch, NodeOps.NodeEvaluation.soft)
            let i = 2
            let length = int (batch.Lengths.[int64 i].item<int64>())
            let trace = Trace.ofForward net result i (List.init length (sprintf "w%d"))
            let expected = values result.ModuleWeights.[int64 i]
            Expect.sequenceEqual (Array.concat trace.ModuleWeights) expected "trace = ModuleWeights[i], step-major"
            Expect.equal trace.ModuleWeights.[0].Length net.Spec.Modules.Length "one column per spec module"
            Expect.sequenceEqual (Array.concat trace.AttentionMaps |> Array.concat) (values result.AttentionMaps.[int64 i]) "maps = AttentionMaps[i]"
            Expect.equal trace.WordAttention.[0].Length length "word attention over the question's words only"
            let plotted = plottedZ (Plots.sharingScript "plotly.min.js" (Plots.moduleWeightsFigure "q" trace))
            Expect.sequenceEqual (Array.concat plotted) expected "the picture's z is w(t)"
        }

        test "report: index.html links files that exist; every table's Markdown and CSV agree" {
            let run, out, stdout, _, targets = report.Force()
            Expect.stringContains stdout (Path.Combine(out, "index.html")) "prints where the report is"
            for file in [ "formulas.md"; "alpha.csv"; "eval.md"; "op-ablation.csv"; "ig.md"; "alpha.html"; "question-1-weights.html"; "question-1-attention.html"; "curves.html"; "lambda-w.html" ] do
                Expect.contains targets file $"index links {file}"
            for t in targets do Expect.isTrue (File.Exists(Path.Combine(out, t))) $"{t} exists"
            for name in [ "formulas"; "alpha"; "eval"; "op-ablation"; "ig" ] do
                expectSameNumbers (File.ReadAllText(Path.Combine(out, name + ".md"))) (File.ReadAllText(Path.Combine(out, name + ".csv"))) name
            Expect.equal (markdownCells (File.ReadAllText(Path.Combine(out, "op-ablation.md")))).Length 8 "header, the model, six ops removed"
            Expect.isEmpty (Directory.GetDirectories(Path.GetDirectoryName out) |> Array.filter (fun d -> d.StartsWith(out + ".partial"))) "no temporary folder left"
            let page = File.ReadAllText(Path.Combine(out, "alpha.html"))
            Expect.stringContains page "<script src=\"plotly.min.js\"" "the pages share one plotly.js"
            Expect.isLessThan page.Length 200_000 "without plotly.js inline"
            Expect.stringContains (File.ReadAllText(Path.Combine(out, "plotly.min.js"))) "plotly.js v" "plotly.min.js next to them"
            let code, _, err = TrainerTests.runCli [ "report"; run; "--out"; run; "--questions"; "1"; "--ig-steps"; "1" ]
            Expect.equal code 1 "a folder that is not an earlier report is never replaced"
            Expect.stringContains err "not replaced" err
            Expect.isTrue (File.Exists(Path.Combine(run, "checkpoints", "last.ckpt"))) "the run folder is intact"
        }

        test "report: the pictures are PNGs and draw in Chromium" {
            let _, out, _, index, targets = report.Force()
            match Chromium.find () with
            | None ->
                Expect.stringContains index "PNGs skipped" "says PNGs were skipped"
                skipBecause "report pictures: no chromium on PATH, so the report's PNGs and plotly's drawing are not checked (apt-get install chromium)"
            | Some browser ->
                let png = File.ReadAllBytes(Path.Combine(out, "alpha.png"))
                Expect.sequenceEqual png.[0..7] [| 0x89uy; 0x50uy; 0x4Euy; 0x47uy; 0x0Duy; 0x0Auy; 0x1Auy; 0x0Auy |] "alpha.png is a PNG"
                Expect.contains targets "alpha.png" "index shows the PNG"
                match Chromium.dumpDom browser (Path.Combine(out, "question-1-attention.html")) with
                | Ok dom -> Expect.isTrue (Chromium.drawsPlot dom) "plotly drew its SVG offline"
                | Error e -> failtest e
        }

        test "report on a model without α (Stack-NMN): accuracy and pictures, no α tables, and says why" {
            let run = TrainerTests.freshDir "report-stack-nmn"
            TrainerTests.train run [ "--model"; "stack-nmn"; "--max-steps"; "4" ] |> ignore
            let out = TrainerTests.freshDir "report-stack-nmn-out"
            let code, _, err = TrainerTests.runCli [ "report"; run; "--out"; out; "--questions"; "20"; "--pictures"; "1"; "--threads"; "2" ]
            Expect.equal code 0 $"exit 0 ({err})"
            Expect.isTrue (File.Exists(Path.Combine(out, "eval.csv"))) "accuracy table"
            Expect.isTrue (File.Exists(Path.Combine(out, "question-1-weights.html"))) "w(t) picture"
            for name in [ "formulas.md"; "alpha.md"; "op-ablation.md"; "ig.md" ] do
                Expect.isFalse (File.Exists(Path.Combine(out, name))) $"no {name}"
            Expect.stringContains (File.ReadAllText(Path.Combine(out, "index.html"))) "has no α" "says why"
        }

        test "report on a path that is neither a run folder nor a checkpoint: one line naming it, exit 1, nothing written" {
            let missing = TrainerTests.freshDir "no-such-run"
            let out = TrainerTests.freshDir "report-missing"
            let code, _, err = TrainerTests.runCli [ "report"; missing; "--out"; out ]
            Expect.equal code 1 "exit 1"
            Expect.stringContains err missing "names the path"
            Expect.equal (err.Trim().Split('\n').Length) 1 "one line"
            Expect.isFalse (Directory.Exists out) "no report folder"
        }
    
        test "scripts/extract.fsx loads the built assemblies in dotnet fsi and prints the formulas Extraction gives in-process" {
            let checkpoint = Path.Combine(trainedRun.Force(), "checkpoints", "last.ckpt")
            let expected =
                match Training.Checkpoint.readMetadata checkpoint with
                | Error e -> failtest e
                | Ok metadata ->
                    let network = LnmnNetwork.compile metadata.Model
                    Training.Checkpoint.load checkpoint (Training.Steps.createState metadata.Training network) |> Result.defaultWith failtest |> ignore
                    Extraction.extract network
            let root = repositoryRoot ()
            let psi = Diagnostics.ProcessStartInfo("dotnet", [ "fsi"; Path.Combine(root, "src", "Lnmn.Analysis", "scripts", "extract.fsx"); checkpoint ],
                                                   RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false)
            use p = Diagnostics.Process.Start psi
            let out = p.StandardOutput.ReadToEndAsync()
            let err = p.StandardError.ReadToEnd()
            p.WaitForExit()
            Expect.equal p.ExitCode 0 $"exit 0 ({err})"
            for f in expected do
                Expect.stringContains out.Result $"`{f.Paper}`" $"module {f.Module}'s formula"
                Expect.stringContains out.Result f.Latex $"module {f.Module}'s LaTeX"
            let copied = Path.Combine(root, "src", "Lnmn.Train", "bin", "Release", "net10.0", "cpu")
            Expect.isFalse (Directory.Exists copied) "TorchSharp did not fall back to copying the NuGet cache's natives into bin"
        }
    ]
