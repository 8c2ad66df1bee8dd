// `dotnet fsi build.fsx <target> [-- args]`: the project's one entry point for people and CI.
// Targets: help, build, test, train, bench, compare, report, install. Everything builds in Release.
open System
open System.Diagnostics

let root = __SOURCE_DIRECTORY__

let run (command: string) (args: string list) =
    let psi = ProcessStartInfo(command, args, WorkingDirectory = root, UseShellExecute = false)
    use p = Process.Start psi
    p.WaitForExit()
    p.ExitCode

let dotnet args = run "dotnet" args

/// Standard output of a `dotnet` command; its standard error is dropped.
let dotnetOutput (args: string list) =
    let psi = ProcessStartInfo("dotnet", args, WorkingDirectory = root, UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true)
    use p = Process.Start psi
    let err = p.StandardError.ReadToEndAsync()
    let out = p.StandardOutput.ReadToEnd()
    p.WaitForExit()
    err.Wait()
    out

let build () =
    match dotnet [ "restore"; "--locked-mode"; "Lnmn.sln" ] with
    | 0 -> dotnet [ "build"; "-c"; "Release"; "--no-restore"; "Lnmn.sln" ]
    | code -> code

/// Builds the solution, then runs one of its programs without rebuilding.
let runProject project (extra: string list) =
    match build () with
    | 0 -> dotnet ([ "run"; "-c"; "Release"; "--no-build"; "--project"; project; "--" ] @ extra)
    | code -> code

/// Packs lnmn-train into a temporary folder (its publish folder too, so no stale file is packed) and
/// installs it as a .NET tool, globally (~/.dotnet/tools) or under `--tool-path DIR`. A copy already
/// installed there is removed first: `dotnet tool update` keeps a copy of the same version.
let install (args: string list) =
    let globalTools = IO.Path.Combine(Environment.GetFolderPath Environment.SpecialFolder.UserProfile, ".dotnet", "tools")
    let scope =
        match args with
        | [] -> Some([ "--global" ], globalTools)
        | [ "--tool-path"; dir ] -> Some([ "--tool-path"; IO.Path.GetFullPath dir ], IO.Path.GetFullPath dir)
        | _ -> None
    match scope with
    | None ->
        eprintfn "usage: dotnet fsi build.fsx install [--tool-path DIR]"
        2
    | Some(scope, dir) ->
        let work = IO.Path.Combine(IO.Path.GetTempPath(), $"lnmn-install-{Guid.NewGuid():N}")
        let packages, publish = IO.Path.Combine(work, "packages"), IO.Path.Combine(work, "publish")
        let installed () =
            dotnetOutput ([ "tool"; "list" ] @ scope)
            |> fun text -> text.Split('\n') |> Array.exists (fun line -> line.StartsWith "lnmn-train ")
        try
            let steps =
                [ fun () -> dotnet [ "restore"; "--locked-mode"; "src/Lnmn.Train" ]
                  fun () -> dotnet [ "pack"; "src/Lnmn.Train"; "-c"; "Release"; "--no-restore"; "-o"; packages; $"-p:PublishDir={publish}/" ]
                  fun () -> if installed () then dotnet ([ "tool"; "uninstall" ] @ scope @ [ "lnmn-train" ]) else 0
                  fun () -> dotnet ([ "tool"; "install" ] @ scope @ [ "--source"; packages; "lnmn-train" ])
                  fun () ->
                      let path = Environment.GetEnvironmentVariable "PATH" |> Option.ofObj |> Option.defaultValue ""
                      if not (path.Split(':') |> Array.exists (fun d -> d.TrimEnd('/') = dir.TrimEnd('/'))) then
                          printfn "install: %s is not on PATH; add it (export PATH=\"$PATH:%s\") or run %s" dir dir (IO.Path.Combine(dir, "lnmn-train"))
                      0 ]
            steps |> List.fold (fun code step -> if code = 0 then step () else code) 0
        finally
            if IO.Directory.Exists work then IO.Directory.Delete(work, true)

let targets: (string * string * (string list -> int)) list =
    [ "build", "restore (locked) and build the whole solution", (fun _ -> build ())
      "test", "run the Expecto suite (extra args go to Expecto, e.g. --filter-test-list network)", (fun args ->
          runProject "tests/Lnmn.Tests" ([ "--summary"; "--colours"; "0" ] @ args))
      "train", "run lnmn-train (args after the target go to it, e.g. train --ablation 11)", (fun args ->
          runProject "src/Lnmn.Train" args)
      "report", "write a run's report folder (report RUN_DIR|CHECKPOINT [--out DIR] [--questions N] [--ig-steps N])", (fun args ->
          runProject "src/Lnmn.Train" ("report" :: args))
      "bench", "run the benchmarks, write bench-results/*.md (bench [network|training|parallel|data|vqa] [--quick]); bench learning: LNMN-11 and Stack-NMN learning curves (bench-results/learning/)", (fun args ->
          match args with
          | "learning" :: rest -> runProject "src/Lnmn.Train" ("learning-curve" :: rest)
          | _ -> runProject "bench/Lnmn.Bench" args)
      "compare", "train Stack-NMN, LNMN-9/11/14 and the paper's ablations, one seed, equal budgets; write comparison/comparison.{md,csv,html,png} (compare [--quick] [--epochs N] [--threads N])", (fun args ->
          runProject "src/Lnmn.Train" ("compare" :: args))
      "install", "pack lnmn-train and install it as a .NET tool: global (~/.dotnet/tools) or install --tool-path DIR", install ]

let help () =
    printfn "usage: dotnet fsi build.fsx <target> [args]\n\ntargets:"
    for name, description, _ in targets do printfn "  %-8s %s" name description
    printfn "  %-8s %s" "help" "this list"

let exitCode =
    match fsi.CommandLineArgs |> List.ofArray |> List.tail with
    | [] | "help" :: _ | "--help" :: _ -> help (); 0
    | target :: args ->
        let args = match args with "--" :: rest -> rest | rest -> rest
        match targets |> List.tryFind (fun (name, _, _) -> name = target) with
        | Some(_, _, action) -> action args
        | None ->
            eprintfn "build.fsx: unknown target '%s'" target
            help ()
            2

exit exitCode
