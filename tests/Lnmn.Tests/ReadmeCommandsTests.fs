/// Every `lnmn-train …` command in the fenced code blocks of README.md and docs/*.md, and every
/// `dotnet fsi build.fsx train|compare|report|bench learning …` one as the lnmn-train command it
/// runs, goes through the option parsing a real run does (Argu, then the subcommand's checked config)
/// without touching the file system: a misspelt or misplaced flag in the docs fails here.
module Lnmn.Tests.ReadmeCommandsTests

open System
open System.IO
open System.Text.RegularExpressions
open Expecto
open Argu
open Lnmn.Train
open Lnmn.Train.Options
open Lnmn.Tests.TestUtil

/// One command line found in a document: where, and lnmn-train's arguments.
type private Found = { Where: string; Line: string; Args: string list }

/// Shell words: whitespace-separated, with '…' and "…" kept whole.
let private words (line: string) =
    Regex.Matches(line, """'([^']*)'|"([^"]*)"|(\S+)""")
    |> Seq.map (fun m -> m.Groups |> Seq.skip 1 |> Seq.find (fun g -> g.Success) |> fun g -> g.Value)
    |> List.ofSeq

/// lnmn-train's arguments for a line that runs it, directly or through build.fsx's targets (after
/// `time` or environment assignments, if any).
let private commandOf (line: string) =
    let line = Regex.Replace(Regex.Replace(line, @"(^|\s)#.*$", ""), @"^\s*(time\s+|[A-Z_]+=\S*\s+)*", "")
    let tail (marker: string) = if line.StartsWith marker then Some(words (line.Substring marker.Length)) else None
    let dropSeparator args = match args with "--" :: rest -> rest | rest -> rest
    match tail "dotnet fsi build.fsx ", tail "lnmn-train " with
    | Some("train" :: args), _ -> Some(dropSeparator args)
    | Some("compare" :: args), _ -> Some("compare" :: dropSeparator args)
    | Some("report" :: args), _ -> Some("report" :: dropSeparator args)
    | Some("bench" :: "learning" :: args), _ -> Some("learning-curve" :: dropSeparator args)
    | Some _, _ -> None
    | None, found -> found

/// The commands in the fenced code blocks of one Markdown file; a line ending in '\' goes on.
let private commandsIn (root: string) (path: string) =
    let name = Path.GetRelativePath(root, path)
    let mutable inBlock = false
    let mutable pending = ""
    [ for number, text in File.ReadAllLines path |> Array.mapi (fun i l -> i + 1, l) do
        if text.TrimStart().StartsWith "```" then
            inBlock <- not inBlock
            pending <- ""
        elif inBlock then
            let joined = pending + text
            if joined.TrimEnd().EndsWith "\\" then pending <- joined.TrimEnd().TrimEnd('\\') + " "
            else
                pending <- ""
                match commandOf joined with
                | Some args -> yield { Where = $"{name}:{number}"; Line = joined.Trim(); Args = args }
                | None -> () ]

let private documents () =
    let root = repositoryRoot ()
    root, Path.Combine(root, "README.md") :: List.ofArray (Directory.GetFiles(Path.Combine(root, "docs"), "*.md") |> Array.sort)

/// Argu's parse of one subcommand's arguments; `--help` is a valid command.
let private parsed<'T when 'T :> IArgParserTemplate> (args: string list) (check: ParseResults<'T> -> Result<unit, string>) =
    try
        ArgumentParser.Create<'T>(programName = "lnmn-train").ParseCommandLine(Array.ofList args) |> check
    with
    | :? ArguParseException as e when e.ErrorCode = ErrorCode.HelpText -> Ok()
    | :? ArguParseException as e -> Error(e.Message.Split('\n')[0])

let private ignored (r: Result<'T, string>) = Result.map ignore r

/// The checks `Program.main` makes before doing anything, subcommand by subcommand.
let private check (args: string list) : Result<unit, string> =
    match args with
    | "eval" :: rest -> parsed<EvalArgs> rest (toEvalConfig >> ignored)
    | "report" :: rest -> parsed<ReportArgs> rest (toReportConfig >> ignored)
    | "compare" :: rest -> parsed<CompareArgs> rest (toCompareConfig >> ignored)
    | "validate" :: rest -> parsed<ValidateArgs> rest (toValidateConfig >> ignore >> Ok)
    | "generate" :: rest -> parsed<GenerateArgs> rest (toGenerateConfig >> ignored)
    | "learning-curve" :: rest -> parsed<LearningCurveArgs> rest (toLearningCurveConfig >> ignored)
    | "export" :: rest -> parsed<ExportArgs> rest (toExportConfig >> ignored)
    | "import" :: rest -> parsed<ImportArgs> rest (toImportConfig >> ignore >> Ok)
    | _ -> parsed<TrainArgs> args (toConfig >> ignored)

[<Tests>]
let tests =
    testList "readme commands" [
        test "every lnmn-train command in README.md and docs/ parses into its checked config" {
            let root, files = documents ()
            let found = files |> List.collect (commandsIn root)
            Expect.isTrue (found.Length >= 20) $"the extractor finds the documents' commands (found {found.Length})"
            Expect.exists found (fun c -> c.Where.StartsWith "README.md" && c.Args = [ "--ablation"; "11" ]) "the README's main job"
            let failures =
                [ for c in found do
                    match check c.Args with
                    | Ok() -> ()
                    | Error e -> yield $"{c.Where}: {c.Line}\n    {e}" ]
            if not failures.IsEmpty then failtestf "%d of %d commands do not parse:\n%s" failures.Length found.Length (String.concat "\n" failures)
        }
        test "a misspelt flag, a bad value or an option that does not apply is refused" {
            for args in
                [ [ "--ablaton"; "11" ]; [ "--ablation"; "12" ]; [ "--model"; "stack-nmn"; "--alpha-lr"; "0.01" ]
                  [ "generate"; "--out"; "d"; "--groups"; "zero_hops" ]; [ "export"; "c"; "--out"; "f"; "--format"; "onnx" ]
                  [ "compare"; "--quik" ]; [ "report"; "r"; "--split"; "dev" ]
                  [ "generate"; "--out"; "d"; "--train-scenes"; "0" ]; [ "learning-curve"; "--epochs"; "0" ]
                  [ "learning-curve"; "--max-steps"; "-3" ] ] do
                Expect.isError (check args) $"{args}"
            Expect.equal (check [ "learning-curve"; "--epochs"; "2"; "--max-steps"; "5" ]) (Ok()) "positive values pass"
        }
        test "build.fsx's targets become lnmn-train's arguments" {
            Expect.equal (commandOf "time dotnet fsi build.fsx train -- --ablation 11 --run-dir /tmp/m   # 11 min") (Some [ "--ablation"; "11"; "--run-dir"; "/tmp/m" ]) "train"
            Expect.equal (commandOf "dotnet fsi build.fsx compare -- --threads 1") (Some [ "compare"; "--threads"; "1" ]) "compare"
            Expect.equal (commandOf "LNMN_DATA=/tmp/c dotnet fsi build.fsx bench learning --max-steps 5") (Some [ "learning-curve"; "--max-steps"; "5" ]) "bench learning"
            Expect.equal (commandOf "dotnet fsi build.fsx test -- --filter parity") None "test is not lnmn-train"
        }
    ]
