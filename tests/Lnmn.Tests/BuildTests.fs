module Lnmn.Tests.BuildTests

open System
open System.IO
open Expecto
open TorchSharp

let private version = "GLIBCXX_3.4.32"

let private nugetCopy () =
    let root =
        match Environment.GetEnvironmentVariable "NUGET_PACKAGES" with
        | null | "" -> Path.Combine(Environment.GetFolderPath Environment.SpecialFolder.UserProfile, ".nuget", "packages")
        | p -> p
    Path.Combine(root, "torchsharp", "0.107.0", "runtimes", "linux-x64", "native", "libLibTorchSharp.so")

let private outputCopy () =
    Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", "libLibTorchSharp.so")

[<Tests>]
let tests =
    testList "build" [
        test "the build stamps the commit it was made from: 40 hex digits, or unknown outside git" {
            let commit = Lnmn.Train.BuildInfo.gitCommit
            Expect.isTrue (commit = "unknown" || Text.RegularExpressions.Regex.IsMatch(commit, "^[0-9a-f]{40}$")) $"'{commit}'"
            let checkout = Path.GetFullPath(Path.Combine(__SOURCE_DIRECTORY__, "..", ".."))
            if Path.Exists(Path.Combine(checkout, ".git")) then
                // Built inside a checkout: the stamp names one of its commits.
                let psi = Diagnostics.ProcessStartInfo("git", [ "-C"; checkout; "cat-file"; "-t"; commit ], RedirectStandardOutput = true, UseShellExecute = false)
                use git = Diagnostics.Process.Start psi
                let kind = git.StandardOutput.ReadToEnd().Trim()
                git.WaitForExit()
                Expect.equal kind "commit" $"{commit} is a commit of {checkout}"
        }

        test "a tensor operation runs (TorchSharp's native library loads)" {
            use a = torch.tensor([| 1.0f; 2.0f; 3.0f |])
            use b = a.matmul(a)
            Expect.equal (b.item<float32>()) 14.0f "1 + 4 + 9"
        }

        test "markWeak flags exactly the GLIBCXX_3.4.32 entry that readelf lists" {
            let original = File.ReadAllBytes(nugetCopy ())
            let patched = ElfVersionNeeds.markWeak version original
            // `readelf -V` on this file: .gnu.version_r at 0x3f8f0, GLIBCXX_3.4.32 entry at +0x140,
            // its vna_flags two bytes further in at +4.
            let flagsAt = 0x3f8f0 + 0x140 + 4
            let differing = [ for i in 0 .. original.Length - 1 do if original.[i] <> patched.[i] then i ]
            Expect.equal differing [ flagsAt ] "only the low byte of that entry's flags changes"
            Expect.equal (BitConverter.ToUInt16(patched, flagsAt)) 2us "VER_FLG_WEAK"
            let needs = ElfVersionNeeds.versionNeeds original
            Expect.equal needs.Length 28 "readelf counts 1 + 1 + 1 + 5 + 20 requirements"
            Expect.isTrue (needs |> List.exists (fun n -> n.Version = version && n.File = "libstdc++.so.6")) "needed from libstdc++"
        }

        test "the build weakens its output copy only where the system libstdc++ lacks the version; the NuGet cache is untouched" {
            let systemHas =
                ElfVersionNeeds.systemLibstdcxx ()
                |> Option.exists (File.ReadAllBytes >> ElfVersionNeeds.definesVersion version)
            let weakIn path =
                ElfVersionNeeds.versionNeeds (File.ReadAllBytes path)
                |> List.filter (fun n -> n.Version = version) |> List.forall ElfVersionNeeds.isWeak
            Expect.equal (weakIn (outputCopy ())) (not systemHas) "output copy weak exactly when needed"
            Expect.isFalse (weakIn (nugetCopy ())) "the cache copy keeps its strong requirement"
        }
    ]
