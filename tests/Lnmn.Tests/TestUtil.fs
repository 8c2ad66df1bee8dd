module Lnmn.Tests.TestUtil

open Expecto
open TorchSharp

/// Float values of a tensor, flattened.
let values (t: torch.Tensor) : float[] =
    t.detach().cpu().to_type(torch.ScalarType.Float64).contiguous().data<float>().ToArray()

let tensorOf (shape: int64[]) (xs: float list) = torch.tensor(Array.ofList (List.map float32 xs)).reshape(shape)

/// Every element within `tolerance` of the expected one. A NaN or an infinity on either side fails:
/// `abs (x - y) > tolerance` is false for NaN, and no test here expects a non-finite value.
let expectClose (tolerance: float) (actual: torch.Tensor) (expected: float[]) message =
    let a = values actual
    Expect.equal a.Length expected.Length $"{message}: element count"
    Array.iteri2 (fun i x y ->
        if not (System.Double.IsFinite x && System.Double.IsFinite y) then failtestf "%s: element %d is %g, expected %g (not finite)" message i x y
        elif abs (x - y) > tolerance then failtestf "%s: element %d is %g, expected %g" message i x y) a expected

let expectAllClose (tolerance: float) (actual: torch.Tensor) (expected: torch.Tensor) message =
    expectClose tolerance actual (values expected) message

/// Skips the running test and says why on stderr: Expecto's summary names an ignored test but prints
/// its reason only at --debug.
let skipBecause (reason: string) : 'T =
    eprintfn "skipped: %s" reason
    skiptest reason

/// Runs a test body inside a dispose scope so tensors it makes are freed.
let scoped (body: unit -> unit) () =
    use _ = torch.NewDisposeScope()
    body ()

/// The description of a data error, checked to name `path` and to be one line.
let oneLineError (path: string) (result: Result<'T, Lnmn.Core.Data.DataError>) =
    match result with
    | Ok _ -> failtestf "%s: expected an error, the input was accepted" path
    | Error e ->
        let line = Lnmn.Core.Data.DataError.describe e
        Expect.stringContains line path "names the file"
        Expect.isFalse (line.Contains '\n') "one line"
        line

/// Copies every file under `source` to the same relative place under `destination`.
let copyDirectory (source: string) (destination: string) =
    for f in System.IO.Directory.GetFiles(source, "*", System.IO.SearchOption.AllDirectories) do
        let target = System.IO.Path.Combine(destination, System.IO.Path.GetRelativePath(source, f))
        System.IO.Directory.CreateDirectory(System.IO.Path.GetDirectoryName target) |> ignore
        System.IO.File.Copy(f, target)

/// A new empty directory under the system's temporary folder.
let temporaryDirectory () =
    let d = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"lnmn-tests-{System.Guid.NewGuid():N}")
    System.IO.Directory.CreateDirectory d |> ignore
    d

/// The checkout the tests were built from (recorded at build time, so it holds for any output folder).
let repositoryRoot () =
    System.Reflection.Assembly.GetExecutingAssembly().GetCustomAttributes(typeof<System.Reflection.AssemblyMetadataAttribute>, false)
    |> Seq.cast<System.Reflection.AssemblyMetadataAttribute>
    |> Seq.tryFind (fun a -> a.Key = "RepositoryRoot")
    |> Option.map (fun a -> a.Value)
    |> Option.defaultWith (fun () -> failtest "the test assembly records no RepositoryRoot")

/// Runs a program in `directory` to its end, with `environment` added to this process's; returns
/// exit code, stdout, stderr.
let runProcessWith (environment: (string * string) list) (program: string) (args: string list) (directory: string) =
    let psi = System.Diagnostics.ProcessStartInfo(program, args, WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false)
    for name, value in environment do psi.Environment[name] <- value
    use p = System.Diagnostics.Process.Start psi
    let out = p.StandardOutput.ReadToEndAsync()
    let err = p.StandardError.ReadToEnd()
    p.WaitForExit()
    p.ExitCode, out.Result, err

let runProcess (program: string) (args: string list) (directory: string) = runProcessWith [] program args directory

/// A training command line (without `lnmn-train`) parsed and checked into its config, as the CLI does.
let trainConfig (args: string list) =
    Argu.ArgumentParser.Create<Lnmn.Train.Options.TrainArgs>(programName = "lnmn-train").ParseCommandLine(Array.ofList args)
    |> Lnmn.Train.Options.toConfig
