package main

// Process helpers: children that die with the benchmark, CPU time and peak
// resident memory read from the kernel (Linux only: /proc and wait4).

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// children tracks every process the benchmark started, so that an
// interrupted run (SIGINT, a failed row) leaves nothing behind.
var children struct {
	mu   sync.Mutex
	cmds map[*exec.Cmd]bool
}

// startChild starts cmd with a parent-death signal (the kernel SIGKILLs
// it if the benchmark dies) and remembers it for killChildren.
func startChild(cmd *exec.Cmd) error {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	children.mu.Lock()
	if children.cmds == nil {
		children.cmds = map[*exec.Cmd]bool{}
	}
	children.cmds[cmd] = true
	children.mu.Unlock()
	return nil
}

// forgetChild drops cmd from the set killChildren kills (after Wait).
func forgetChild(cmd *exec.Cmd) {
	children.mu.Lock()
	delete(children.cmds, cmd)
	children.mu.Unlock()
}

// killChildren SIGKILLs every child still running, each by its own pid.
// A host's plugins die with it (their own parent-death signal).
func killChildren() {
	children.mu.Lock()
	defer children.mu.Unlock()
	for cmd := range children.cmds {
		if cmd.Process != nil {
			_ = cmd.Process.Kill()
		}
	}
}

// cpuOf is the user plus system CPU time in a finished process's rusage.
// On Linux that includes every descendant the process waited for, so a
// host's figure includes the plugins it reaped.
func cpuOf(ps *os.ProcessState) time.Duration {
	if ps == nil {
		return 0
	}
	ru, ok := ps.SysUsage().(*syscall.Rusage)
	if !ok {
		return ps.UserTime() + ps.SystemTime()
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// maxRSSOf is ru_maxrss of a finished process in bytes: the peak resident
// set of the process itself or of its largest waited-for descendant
// (never their sum).
func maxRSSOf(ps *os.ProcessState) int64 {
	if ps == nil {
		return 0
	}
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		return ru.Maxrss * 1024 // KiB on Linux
	}
	return 0
}

// procStatus returns a field of /proc/<pid>/status in bytes (fields such
// as VmHWM and VmRSS are in kB), or 0.
func procStatus(pid int, field string) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		rest, ok := strings.CutPrefix(line, field+":")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			return 0
		}
		kb, _ := strconv.ParseInt(f[0], 10, 64)
		return kb * 1024
	}
	return 0
}

// clockTick is USER_HZ, the unit of the CPU times in /proc/<pid>/stat;
// 100 on every Linux this runs on.
const clockTick = 100

// procCPU is the CPU time (user + system) a live process used so far,
// from /proc/<pid>/stat (10 ms resolution), or 0.
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The command name (field 2) may hold spaces; fields count from after
	// its closing parenthesis: state is field 3, utime 14, stime 15.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / clockTick
}

// childPIDs lists the live children of pid (from every thread's
// /proc/<pid>/task/<tid>/children).
func childPIDs(pid int) []int {
	tasks, _ := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*/children")
	var out []int
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(f); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}

// cmdline returns a process's command line, its arguments joined by
// spaces.
func cmdline(pid int) string {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	return strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
}
