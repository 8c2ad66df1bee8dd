module Lnmn.Tests.InstallTests

open System.IO
open Expecto
open Lnmn.Tests.TestUtil

/// The libLibTorchSharp.so files under an installed tool's folder.
let private installedLibTorchSharp (toolPath: string) =
    Directory.GetFiles(Path.Combine(toolPath, ".store"), "libLibTorchSharp.so", SearchOption.AllDirectories)

[<Tests>]
let tests =
    testList "install" [
        // About a minute: most of it zips the package (TorchSharp's natives for every platform).
        test "build.fsx install packs and installs lnmn-train into a tool path; it runs from another directory with the weakened native library" {
            let toolPath, elsewhere = temporaryDirectory (), temporaryDirectory ()
            try
                let code, out, err = runProcess "dotnet" [ "fsi"; "build.fsx"; "install"; "--tool-path"; toolPath ] (repositoryRoot ())
                Expect.equal code 0 $"install exits 0 ({out}\n{err})"
                let tool = Path.Combine(toolPath, "lnmn-train")
                let code, out, err = runProcess tool [ "--ablation"; "11"; "--dry-run"; "--data"; TrainerTests.dataDir.Force() ] elsewhere
                Expect.equal code 0 $"the installed tool exits 0 ({err})"
                Expect.stringContains out "144 α (24 nodes)" "LNMN-11's α count"
                Expect.isEmpty (Directory.GetFileSystemEntries elsewhere) "a dry run writes nothing"
                let shipped = installedLibTorchSharp toolPath
                Expect.equal shipped.Length 1 "one libLibTorchSharp.so, no duplicate"
                Expect.equal (BuildTests.weakIn shipped.[0]) (not (BuildTests.systemHasVersion ())) "the package ships the weakened copy exactly when the system needs it"
            finally
                for d in [ toolPath; elsewhere ] do Directory.Delete(d, true)
        }
    ]
