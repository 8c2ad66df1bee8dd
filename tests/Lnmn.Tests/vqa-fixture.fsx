// Writes the tests' VQA fixture (VqaFixture.fs) to a directory, for a VQA run by hand:
//   dotnet fsi build.fsx build && dotnet fsi tests/Lnmn.Tests/vqa-fixture.fsx DIR [v1|v2]
#r "../../src/Lnmn.Train/bin/Release/net10.0/PureHDF.dll"
#r "../../src/Lnmn.Train/bin/Release/net10.0/Lnmn.Core.dll"
#load "VqaFixture.fs"

open Lnmn.Core.Data

match fsi.CommandLineArgs |> List.ofArray |> List.tail with
| [ dir ] | [ dir; "v2" ] -> printfn "%s" (Lnmn.Tests.VqaFixture.writeTo VqaLayout.V2 dir)
| [ dir; "v1" ] -> printfn "%s" (Lnmn.Tests.VqaFixture.writeTo VqaLayout.V1 dir)
| _ ->
    eprintfn "usage: dotnet fsi tests/Lnmn.Tests/vqa-fixture.fsx DIR [v1|v2]"
    exit 2
