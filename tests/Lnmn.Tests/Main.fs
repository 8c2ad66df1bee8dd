module Lnmn.Tests.Main

open Expecto

[<EntryPoint>]
let main argv =
    TorchSharp.torch.set_num_threads 2
    // Sequenced: tests seed torch's global generator.
    Tests.runTestsInAssemblyWithCLIArgs [ CLIArguments.Sequenced ] argv
