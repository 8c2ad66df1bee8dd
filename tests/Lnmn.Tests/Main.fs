module Lnmn.Tests.Main

open Expecto

[<EntryPoint>]
let main argv =
    TorchSharp.torch.set_num_threads 2
    Tests.runTestsInAssemblyWithCLIArgs [] argv
