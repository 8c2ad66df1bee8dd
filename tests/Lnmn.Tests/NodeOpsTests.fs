module Lnmn.Tests.NodeOpsTests
