/// The command line made into checked configs: an option that would change nothing in the run the
/// others describe is refused, never dropped; each subcommand's defaults and checks.
module Lnmn.Tests.OptionsTests

open Expecto
open Argu
open Lnmn.Core
open Lnmn.Train
open Lnmn.Train.Configs

let private train (args: string list) =
    ArgumentParser.Create<Options.TrainArgs>(programName = "lnmn-train").ParseCommandLine(Array.ofList args) |> Options.toConfig

let private compare (args: string list) =
    ArgumentParser.Create<Options.CompareArgs>(programName = "lnmn-train compare").ParseCommandLine(Array.ofList args) |> Options.toCompareConfig

let private report (args: string list) =
    ArgumentParser.Create<Options.ReportArgs>(programName = "lnmn-train report").ParseCommandLine(Array.ofList args) |> Options.toReportConfig

let private refused (args: string list) (option: string) (why: string) =
    match train args with
    | Error e ->
        Expect.stringStarts e $"{option} does not apply" $"{args}: names the option"
        Expect.stringContains e why $"{args}: says why"
    | Ok _ -> failtestf "%A accepted" args

[<Tests>]
let tests =
    testList "options" [
        test "no option: the defaults" {
            Expect.equal (train []) (Ok Defaults.train) "Defaults.train"
        }
        test "--questions and --epochs both plan a run: given together, refused in one line" {
            match train [ "--epochs"; "2"; "--questions"; "1000" ] with
            | Error e -> Expect.equal e "--questions plans the run instead of --epochs: give one of them" "one line"
            | Ok _ -> failtest "accepted"
            Expect.equal (train [ "--questions"; "0" ]) (Error "--questions must be positive (got 0)") "positive"
            Expect.equal (train [ "--questions"; "1000"; "--batch-size"; "32" ] |> Result.map (fun c -> c.Questions, c.BatchSize)) (Ok(Some 1000, 32)) "read"
        }
        test "--alpha-every is read, refused below 1, and refused where α is not trained" {
            Expect.equal (train [ "--alpha-every"; "2" ] |> Result.map (fun c -> c.AlphaEvery)) (Ok(Some 2)) "read"
            Expect.equal (train [ "--alpha-every"; "0" ]) (Error "--alpha-every must be positive (got 0)") "positive"
            refused [ "--model"; "stack-nmn"; "--alpha-every"; "2" ] "--alpha-every" "it has no α"
            refused [ "--alpha-schedule"; "frozen"; "--alpha-every"; "2" ] "--alpha-every" "α is not trained"
        }
        test "options that do not apply are refused with the reason" {
            refused [ "--model"; "stack-nmn"; "--ablation"; "9" ] "--ablation" "its nine modules are fixed"
            refused [ "--model"; "stack-nmn"; "--alpha-lr"; "0.01" ] "--alpha-lr" "it has no α"
            refused [ "--model"; "concat"; "--alpha-schedule"; "paper" ] "--alpha-schedule" "it has no α"
            refused [ "--model"; "concat"; "--unrolled" ] "--unrolled" "it has no α"
            refused [ "--model"; "lnmn-describe"; "--answer-pooling"; "sum" ] "--answer-pooling" "only LNMN's answer cells"
            refused [ "--resume"; "--run-dir"; "r"; "--ablation"; "9" ] "--ablation" "--resume"
            refused [ "--resume"; "--run-dir"; "r"; "--data"; "d" ] "--data" "--resume"
            refused [ "--resume"; "--run-dir"; "r"; "--seed"; "2" ] "--seed" "--resume"
            // A resumed run's length and evaluations are its checkpoint's (issue 24).
            refused [ "--resume"; "--run-dir"; "r"; "--epochs"; "3" ] "--epochs" "--resume"
            refused [ "--resume"; "--run-dir"; "r"; "--questions"; "3000" ] "--questions" "--resume"
            refused [ "--resume"; "--run-dir"; "r"; "--max-steps"; "9" ] "--max-steps" "--resume"
            refused [ "--resume"; "--run-dir"; "r"; "--eval-every"; "2" ] "--eval-every" "--resume"
            refused [ "--finetune-from"; "c"; "--data"; "d"; "--size"; "small" ] "--size" "--finetune-from"
            refused [ "--finetune-from"; "c"; "--data"; "d"; "--map-dim"; "16" ] "--map-dim" "--finetune-from"
            refused [ "--arch-split"; "val"; "--arch-fraction"; "0.2" ] "--arch-fraction" "--arch-split val"
            refused [ "--alpha-schedule"; "frozen"; "--alpha-warmup"; "0.5" ] "--alpha-warmup" "α is not trained"
            refused [ "--alpha-preset"; "find"; "--alpha-init"; "0.5" ] "--alpha-init" "--alpha-preset"
        }
        test "options that apply are kept" {
            let ok args = match train args with Ok c -> c | Error e -> failtestf "%A refused: %s" args e
            Expect.equal (ok [ "--resume"; "--run-dir"; "r"; "--threads"; "1"; "--device"; "cpu" ]).Threads (Some 1) "where a resumed run runs"
            Expect.equal (ok [ "--model"; "stack-nmn"; "--pointer"; "soft" ]).Pointer (Some(Specs.Soft 0.2)) "Stack-NMN's pointer"
            Expect.equal (ok [ "--model"; "concat"; "--ablation"; "9" ]).Ablation Specs.Ablation9 "concatenation cells count by ablation"
            Expect.equal (ok [ "--model"; "lnmn-describe"; "--alpha-lr"; "0.01" ]).AlphaLearningRate (Some 0.01) "its attention cells have α"
            Expect.equal (ok [ "--finetune-from"; "c"; "--data"; "d"; "--lr"; "0.01" ]).LearningRate (Some 0.01) "a fine-tuned run's training"
            Expect.equal (ok [ "--alpha-schedule"; "paper"; "--alpha-warmup"; "0.5" ]).AlphaWarmup (Some 0.5) "a warm-up for the paper's rule"
        }
        test "positive: one check for integers and rates, absent options pass" {
            Expect.equal (Options.positive "epochs" 3) (Ok 3) "3"
            Expect.equal (Options.positive "epochs" 0) (Error "--epochs must be positive (got 0)") "0"
            Expect.equal (Options.positive "lr" -0.5) (Error "--lr must be positive (got -0.5)") "-0.5"
            Expect.isError (Options.positive "lr" nan) "NaN"
            Expect.equal (Options.optional (Options.positive "epochs") (None: int option)) (Ok(None: int option)) "absent"
        }
        test "compare: the main job's budget on the built-in data, the trainer's with --data, a smoke size with --quick" {
            let budget args = compare args |> Result.map (fun c -> c.Epochs, c.MaxSteps)
            Expect.equal (budget []) (Ok(Some 1, None)) "built-in: one pass"
            Expect.equal (budget [ "--data"; "d" ]) (Ok(None, None)) "--data: the trainer's default"
            Expect.equal (budget [ "--quick" ]) (Ok(Some 1, Some 25)) "--quick"
            Expect.equal (budget [ "--quick"; "--max-steps"; "3" ]) (Ok(Some 1, Some 3)) "--max-steps wins"
            Expect.isError (compare [ "--epochs"; "0" ]) "--epochs 0"
            Expect.isError (compare [ "--device"; "tpu" ]) "--device tpu"
        }
        test "report: its defaults, and its counts checked before anything is read" {
            match report [ "run" ] with
            | Ok c -> Expect.equal (c.Split, c.IgSteps, c.Pictures, c.Questions, c.Device) ("val", 16, 3, None, Device.Auto) "defaults"
            | Error e -> failtest e
            Expect.isError (report [ "run"; "--ig-steps"; "0" ]) "--ig-steps 0"
            Expect.isError (report [ "run"; "--pictures"; "-1" ]) "--pictures -1"
            Expect.isError (report [ "run"; "--questions"; "0" ]) "--questions 0"
            Expect.isError (report [ "run"; "--split"; "dev" ]) "--split dev"
        }
    ]
